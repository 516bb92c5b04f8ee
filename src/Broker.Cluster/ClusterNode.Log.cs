using Microsoft.Extensions.Logging;

namespace Broker.Cluster;

internal sealed partial class ClusterNode
{
    [LoggerMessage(EventId = 2400, Level = LogLevel.Information, Message = "Cluster {Cluster}: node {Node} joining over NATS {Servers}")]
    private static partial void LogStarting(ILogger logger, string node, string cluster, string servers);

    [LoggerMessage(EventId = 2401, Level = LogLevel.Error, Message = "Cluster: another node announces itself as {Node}: node.name must be unique in a cluster")]
    private static partial void LogDuplicateName(ILogger logger, string node);

    [LoggerMessage(EventId = 2402, Level = LogLevel.Information, Message = "Cluster: NATS {Server} {How}; this node is in the cluster")]
    private static partial void LogNatsConnected(ILogger logger, string server, string how);

    [LoggerMessage(EventId = 2403, Level = LogLevel.Warning, Message = "Cluster: NATS connection lost ({Reason}); serving this node's clients alone until it is back")]
    private static partial void LogNatsDisconnected(ILogger logger, string reason);

    [LoggerMessage(EventId = 2404, Level = LogLevel.Warning, Message = "Cluster: cannot connect to NATS {Servers}: {Reason}; serving this node's clients alone")]
    private static partial void LogConnectFailed(ILogger logger, string servers, string reason);

    [LoggerMessage(EventId = 2416, Level = LogLevel.Error, Message = "Cluster: NATS {Servers} refused this node ({Reason}) and the NATS client stopped trying; serving this node's clients alone: check cluster.nats.username, password and token, then restart the node (or ctl cluster leave and join)")]
    private static partial void LogConnectGaveUp(ILogger logger, string servers, string reason);

    [LoggerMessage(EventId = 2417, Level = LogLevel.Information, Message = "Cluster: sending {Count} forward(s) to node {Node} again: not acknowledged (lost on the way through NATS); it keeps them in order and drops what it already has")]
    private static partial void LogResent(ILogger logger, int count, string node);

    [LoggerMessage(EventId = 2418, Level = LogLevel.Warning, Message = "Cluster: node {Node} has not acknowledged {Count} QoS 1/2 forward(s) within {TimeoutMs} ms (cluster.node_timeout) though it still announces itself: their publishers are acknowledged now; the forwards are still sent until it has them")]
    private static partial void LogAckTimeout(ILogger logger, int count, string node, double timeoutMs);

    [LoggerMessage(EventId = 2419, Level = LogLevel.Warning, Message = "Cluster: {Count} QoS 1/2 forward(s) to node {Node} were not acknowledged before it went ({Why}): their publishers are acknowledged now (the other nodes have the messages); it does not get them")]
    private static partial void LogForwardsReleased(ILogger logger, int count, string node, string why);

    [LoggerMessage(EventId = 2405, Level = LogLevel.Warning, Message = "Cluster: NATS dropped a message on {Subject} (this node is too slow to take it)")]
    private static partial void LogNatsDropped(ILogger logger, string subject);

    [LoggerMessage(EventId = 2406, Level = LogLevel.Warning, Message = "Cluster: a forwarded message on {Subject} cannot be read: {Reason}")]
    private static partial void LogBadForward(ILogger logger, string subject, string reason);

    [LoggerMessage(EventId = 2407, Level = LogLevel.Information, Message = "Cluster: node {Node} is up")]
    private static partial void LogNodeUp(ILogger logger, string node);

    [LoggerMessage(EventId = 2408, Level = LogLevel.Information, Message = "Cluster: node {Node} joined with {Routes} route(s)")]
    private static partial void LogNodeSynced(ILogger logger, string node, int routes);

    [LoggerMessage(EventId = 2409, Level = LogLevel.Information, Message = "Cluster: routes of node {Node} synced again ({Before} -> {After})")]
    private static partial void LogNodeResynced(ILogger logger, string node, int before, int after);

    [LoggerMessage(EventId = 2410, Level = LogLevel.Warning, Message = "Cluster: node {Node} is down (not heard for {TimeoutMs} ms): its {Routes} route(s) withdrawn")]
    private static partial void LogNodeDown(ILogger logger, string node, double timeoutMs, int routes);

    [LoggerMessage(EventId = 2411, Level = LogLevel.Information, Message = "Cluster: node {Node} left")]
    private static partial void LogNodeLeft(ILogger logger, string node);

    [LoggerMessage(EventId = 2412, Level = LogLevel.Warning, Message = "Cluster: no route snapshot from node {Node} ({Reason}); asking again at its next heartbeat")]
    private static partial void LogSnapshotFailed(ILogger logger, string node, string reason);

    [LoggerMessage(EventId = 2413, Level = LogLevel.Warning, Message = "Cluster: node {Node} removed from the cluster (force-leave on node {By}): its routes withdrawn")]
    private static partial void LogForceLeave(ILogger logger, string node, string by);

    [LoggerMessage(EventId = 2414, Level = LogLevel.Warning, Message = "Cluster: node {By} removed this node from the cluster (force-leave): leaving")]
    private static partial void LogForcedToLeave(ILogger logger, string by);

    [LoggerMessage(EventId = 2415, Level = LogLevel.Information, Message = "Cluster: node {Node} left the cluster")]
    private static partial void LogNodeLeftCluster(ILogger logger, string node);

    [LoggerMessage(EventId = 2445, Level = LogLevel.Information, Message = "Cluster: {Count} share-group forward(s) came back from node {Node} (no member of the group left there, or the node is gone): {Queued} sent to other nodes with members, {Dropped} dropped for want of one")]
    private static partial void LogRedispatched(ILogger logger, int count, string node, int queued, int dropped);
}
