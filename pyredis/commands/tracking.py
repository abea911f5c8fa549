"""CLIENT TRACKING, CLIENT CACHING, CLIENT GETREDIR, CLIENT TRACKINGINFO
(clientCommand's tracking part); the mechanism is pyredis/tracking.py."""

from . import command
from .. import resp
from ..resp import OK, SYNTAX_ERR, error
from ..tracking import BCAST, BROKEN_REDIR, CACHING, NOLOOP, OPTIN, OPTOUT
from ..util import string2ll


@command('client|tracking')
def client_tracking(c, argv):
    server = c.server
    tr = server.tracking
    options = 0
    redirect = 0
    prefixes = []
    j = 3
    n = len(argv)
    while j < n:
        opt = argv[j].lower()
        more = n - 1 - j
        if opt == b'redirect' and more:
            j += 1
            if redirect:
                return b'-ERR A client can only redirect to a single other client\r\n'
            redirect = string2ll(argv[j])
            if redirect is None:
                return resp.NOT_INT_ERR
            if redirect not in server.clients:
                return b'-ERR The client ID you want redirect to does not exist\r\n'
        elif opt == b'bcast':
            options |= BCAST
        elif opt == b'optin':
            options |= OPTIN
        elif opt == b'optout':
            options |= OPTOUT
        elif opt == b'noloop':
            options |= NOLOOP
        elif opt == b'prefix' and more:
            j += 1
            prefixes.append(argv[j])
        else:
            return SYNTAX_ERR
        j += 1
    mode = argv[2].lower()
    if mode == b'on':
        current = tr.state(c)
        if not options & BCAST and prefixes:
            return b'-ERR PREFIX option requires BCAST mode to be enabled\r\n'
        if current is not None and bool(current.flags & BCAST) != bool(options & BCAST):
            return (b"-ERR You can't switch BCAST mode on/off before disabling tracking for "
                    b"this client, and then re-enabling it with a different mode.\r\n")
        if options & BCAST and options & (OPTIN | OPTOUT):
            return b'-ERR OPTIN and OPTOUT are not compatible with BCAST\r\n'
        if options & OPTIN and options & OPTOUT:
            return b"-ERR You can't specify both OPTIN mode and OPTOUT mode\r\n"
        if current is not None and ((options & OPTIN and current.flags & OPTOUT)
                                    or (options & OPTOUT and current.flags & OPTIN)):
            return (b"-ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for "
                    b"this client, and then re-enabling it with a different mode.\r\n")
        if options & BCAST:
            err = _prefix_collision(current.prefixes if current is not None else [], prefixes)
            if err is not None:
                return err
        tr.enable(c, redirect, options, prefixes)
    elif mode == b'off':
        tr.disable(c)
    else:
        return SYNTAX_ERR
    return OK


def _prefix_collision(existing, prefixes):
    """checkPrefixCollisionsOrReply."""
    for i, p in enumerate(prefixes):
        for q in existing:
            if p != q and (p.startswith(q) or q.startswith(p)):
                return error(b"ERR Prefix '%s' overlaps with an existing prefix '%s'. "
                             b"Prefixes for a single client must not overlap." % (p, q))
        for q in prefixes[i + 1:]:
            if p.startswith(q) or q.startswith(p):
                return error(b"ERR Prefix '%s' overlaps with another provided prefix '%s'. "
                             b"Prefixes for a single client must not overlap." % (p, q))
    return None


@command('client|caching')
def client_caching(c, argv):
    t = c.server.tracking.state(c)
    if t is None:
        return (b'-ERR CLIENT CACHING can be called only when the client is in tracking mode '
                b'with OPTIN or OPTOUT mode enabled\r\n')
    opt = argv[2].lower()
    if opt == b'yes':
        if not t.flags & OPTIN:
            return (b'-ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN '
                    b'mode.\r\n')
    elif opt == b'no':
        if not t.flags & OPTOUT:
            return (b'-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT '
                    b'mode.\r\n')
    else:
        return SYNTAX_ERR
    t.flags |= CACHING
    return OK


@command('client|getredir')
def client_getredir(c, argv):
    t = c.server.tracking.state(c)
    return b':%d\r\n' % (t.redirect if t is not None else -1)


@command('client|trackinginfo')
def client_trackinginfo(c, argv):
    t = c.server.tracking.state(c)
    if t is None:
        flags = [b'off']
    else:
        flags = [b'on']
        for bit, name in ((BCAST, b'bcast'), (OPTIN, b'optin')):
            if t.flags & bit:
                flags.append(name)
        if t.flags & OPTIN and t.flags & CACHING:
            flags.append(b'caching-yes')
        if t.flags & OPTOUT:
            flags.append(b'optout')
            if t.flags & CACHING:
                flags.append(b'caching-no')
        if t.flags & NOLOOP:
            flags.append(b'noloop')
        if t.flags & BROKEN_REDIR:
            flags.append(b'broken_redirect')
    out = [b'%3\r\n' if c.resp > 2 else b'*6\r\n', b'$5\r\nflags\r\n',
           (b'~%d\r\n' if c.resp > 2 else b'*%d\r\n') % len(flags)]
    out += [b'$%d\r\n%s\r\n' % (len(f), f) for f in flags]
    out.append(b'$8\r\nredirect\r\n:%d\r\n' % (t.redirect if t is not None else -1))
    prefixes = sorted(t.prefixes) if t is not None else []
    out.append(b'$8\r\nprefixes\r\n' + resp.bulk_array(prefixes))
    return b''.join(out)
