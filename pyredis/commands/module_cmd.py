"""MODULE LOAD/LOADEX/LIST/UNLOAD/HELP and the loadmodule directive
(module.c's moduleCommand and moduleLoadFromQueue).

The modules are Python (pyredis/modules: api.py is what a module sees,
loader.py loads it); this is the command surface, with Redis 7.0's
replies and errors: a load that fails answers "Error loading the
extension. Please check the server logs." and logs why, an unload that
is refused says why in Redis's words. LOAD, LOADEX and UNLOAD are
protected by enable-module-command (no, yes or local), as in Redis.

``attach`` loads the redis.conf ``loadmodule`` lines (and hands each
module its ``<module>.<name> value`` config lines) before the dataset is
loaded, so that an RDB or AOF holding a module's values or commands loads;
a module that fails to load stops the server, as it stops Redis.
"""

from . import command
from .. import log
from ..config import allow_protected_action
from ..modules import loader
from ..resp import OK, encode, help_reply

LOAD_ERR = b'-ERR Error loading the extension. Please check the server logs.\r\n'
NOT_ALLOWED = (b'-ERR MODULE command not allowed. If the enable-module-command option is '
               b'set to "local", you can run it from a local connection, otherwise you need '
               b'to set this option in the configuration file, and then restart the '
               b'server.\r\n')

MODULE_HELP = [
    'LIST',
    '    Return a list of loaded modules.',
    'LOAD <path> [<arg> ...]',
    '    Load a module library from <path>, passing to it any optional arguments.',
    'LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]',
    '    Load a module library from <path>, while passing it module configurations and '
    'optional arguments.',
    'UNLOAD <name>',
    '    Unload a module.',
]


def _allowed(c):
    return allow_protected_action(c.server.config.enable_module_command, c)


def _text(b):
    return b.decode('utf-8', 'surrogateescape')


def _load(c, path, args, configs=None):
    try:
        loader.load(c.server, _text(path), args, configs)
    except loader.LoadError as e:
        log.warning('Module %s failed to load: %s' % (_text(path), e))
        return LOAD_ERR
    return OK


@command('module|help')
def module_help(c, argv):
    return help_reply('MODULE', MODULE_HELP)


@command('module|load')
def module_load(c, argv):
    if not _allowed(c):
        return NOT_ALLOWED
    return _load(c, argv[2], argv[3:])


@command('module|loadex')
def module_loadex(c, argv):
    if not _allowed(c):
        return NOT_ALLOWED
    configs = {}
    args = []
    i = 3
    while i < len(argv):
        word = argv[i].lower()
        if word == b'config' and i + 2 < len(argv):
            configs[_text(argv[i + 1])] = argv[i + 2]
            i += 3
        elif word == b'args':
            args = argv[i + 1:]
            break
        else:
            log.notice('Syntax Error from arguments to loadex around %s.' % _text(argv[i]))
            return LOAD_ERR
    return _load(c, argv[2], args, configs)


@command('module|unload')
def module_unload(c, argv):
    if not _allowed(c):
        return NOT_ALLOWED
    why = loader.unload(c.server, _text(argv[2]))
    if why is None:
        return OK
    return b'-ERR Error unloading module: %s\r\n' % why.encode()


@command('module|list')
def module_list(c, argv):
    out = []
    for m in loader.registry(c.server).values():
        out.append({b'name': m.name.encode(), b'ver': m.module.version,
                    b'path': m.path.encode('utf-8', 'surrogateescape'), b'args': list(m.args)})
    return encode(out, c.resp)


def info_modules(server):
    """INFO modules (genModulesInfoString)."""
    return [('module', 'name=%s,ver=%d,api=1,filters=0,usedby=[],using=[],options=[]'
             % (m.name, m.module.version)) for m in loader.registry(server).values()]


def attach(server):
    loader.registry(server)
    server.info_sections['modules'] = info_modules
    server.shutdown_hooks.append(lambda save: loader.release_all(server))
    config = server.config
    pending = dict(getattr(config, 'module_configs', {}) or {})
    for line in getattr(config, 'modules', ()) or ():
        path, args = line[0], [a.encode('utf-8', 'surrogateescape') if isinstance(a, str)
                               else a for a in line[1:]]
        try:
            module = loader.load(server, path, args, _configs(pending), own_configs_only=True)
        except loader.LoadError as e:
            log.warning('Module %s failed to load: %s' % (path, e))
            log.warning("Can't load module from %s: server aborting" % path)
            raise SystemExit(1)
        for name in [k for k in pending if k.startswith(module.name + '.')]:
            del pending[name]
    if pending:
        log.warning('Module Configuration detected without loadmodule directive or no '
                    'ApplyConfig call: aborting')
        raise SystemExit(1)


def _configs(pending):
    return {k: (v.encode() if isinstance(v, str) else v) for k, v in pending.items()}
