using Broker.Abstractions;
using Broker.Core.Routing;

namespace Broker.Cluster;

internal sealed partial class ClusterNode
{
    private int _redispatchTurn;

    /// <summary>
    /// Share-group forwards <paramref name="from"/> gave back (it had no member of their group any more, or it is
    /// down or gone): each group to another node with members, or dropped for it (<see cref="ShareRedispatch"/>).
    /// </summary>
    private void Redispatch(List<ReturnedForward> returned, string from)
    {
        var queued = 0;
        var dropped = 0;
        foreach (var forward in returned)
        {
            var result = ShareRedispatch.Redispatch(forward, from, this);
            queued += result.Queued;
            if (result.Dropped)
                dropped++;
        }
        Interlocked.Add(ref _forwardRedispatched, queued);
        if (_core.ShouldLog(2445, nameof(LogRedispatched), from))
            LogRedispatched(_logger, returned.Count, from, queued, dropped);
    }

    long IRedispatchTargets.Now => _core.TimeProvider.GetTimestamp();

    RemoteNode? IRedispatchTargets.Choose(string group, string filter, RedispatchTrail excluded)
    {
        var route = RouteNames.Shared(group, filter);
        List<RemoteNode>? candidates = null;
        lock (_members)
        {
            foreach (var node in _members.Values)
            {
                if (node.IsUp && node.Routes.Contains(route) && !excluded.Contains(node.Name))
                    (candidates ??= []).Add(node);
            }
        }
        if (candidates is null)
            return null;
        // Taking turns, as the first choice does (the order of a dictionary's values is stable while it does not change).
        return candidates[(int)((uint)Interlocked.Increment(ref _redispatchTurn) % (uint)candidates.Count)];
    }

    void IRedispatchTargets.Queued(RemoteNode node) => Wake(node);

    void IRedispatchTargets.Dropped(BrokerMessage message) => _core.DroppedForShareGroup(message);
}
