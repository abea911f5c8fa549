"""Redis Cluster (cluster.c): a pyredis node in a Redis 7.0 cluster.

bus.py is the cluster bus's binary message format (sans-IO), state.py the
nodes and slots and nodes.conf, node.py what a node does with the messages
(gossip, failure detection, failover: clusterProcessPacket, clusterCron),
links.py the asyncio adapter that moves the bytes and attaches it all to
the Server. The CLUSTER command family is commands/cluster.py.
"""
