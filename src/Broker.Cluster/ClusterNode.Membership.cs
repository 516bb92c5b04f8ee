using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using NATS.Client.Core;

namespace Broker.Cluster;

internal sealed partial class ClusterNode
{

    /// <summary>One announcement of another node (or an echo of this node's own, ignored).</summary>
    private void HandleControl(string token, ControlMessage.Decoded message)
    {
        if (string.Equals(message.Name, NodeName, StringComparison.Ordinal))
        {
            if (message.Boot != _boot && message.Kind == ControlKind.Heartbeat && _core.ShouldLog(0x2401, nameof(LogDuplicateName), NodeName))
                LogDuplicateName(_logger, NodeName);
            return;
        }
        if (message.Kind is ControlKind.Leave or ControlKind.ForceLeave)
        {
            HandleLeave(token, message);
            return;
        }
        var syncNeeded = false;
        var cameUp = false;
        RemoteNode? node;
        lock (_members)
        {
            _members.TryGetValue(token, out node);
            if (message.Kind == ControlKind.Heartbeat)
            {
                if (IsForcedOut(token, message))
                    return;
                if (node is null || node.Boot != message.Boot)
                {
                    if (node is not null)
                    {
                        Withdraw(node); // restarted: a new incarnation with routes of its own
                        ForgetForwards(node, "restarted"); // the old one's forwards died with it
                    }
                    node = new RemoteNode(message.Name, message.Boot, _subjects.Forward(token), _subjects.Snapshot(token),
                        DateTimeOffset.FromUnixTimeMilliseconds(message.StartedAt), _options.MaxForwardQueue);
                    _members[token] = node;
                }
                node.LastSeen = _core.TimeProvider.GetTimestamp();
                node.Connections = message.Connections;
                if (!node.IsUp)
                {
                    node.IsUp = true;
                    node.Out.Open();
                    cameUp = true;
                    LogNodeUp(_logger, node.Name);
                }
                // Never synced, or it has said more than this node has applied (a lost delta): ask for the whole table.
                if (!node.SyncInFlight && (!node.Synced || message.Version > node.AppliedVersion))
                    syncNeeded = true;
            }
            else if (node is null || node.Boot != message.Boot)
            {
                return; // a node not heard yet: its snapshot will hold this
            }
            else if (message.Kind == ControlKind.Bye)
            {
                node.IsUp = false;
                Withdraw(node);
                ForgetForwards(node, "it stopped");
                LogNodeLeft(_logger, node.Name);
            }
            else if (!node.IsUp)
            {
                return; // down: routes come back with its snapshot
            }
            else if (node.SyncInFlight || !node.Synced)
            {
                node.Pending.Add(message);
            }
            else if (message.Version == node.AppliedVersion + 1)
            {
                Apply(node, message);
            }
            else if (message.Version > node.AppliedVersion + 1)
            {
                node.Synced = false; // a gap: start again from a snapshot
                node.Pending.Add(message);
                syncNeeded = !node.SyncInFlight;
            }
            if (syncNeeded)
            {
                node.SyncInFlight = true;
                node.SyncGeneration++;
            }
        }
        if (syncNeeded)
            _ = SyncAsync(node!, node!.SyncGeneration);
        if (cameUp)
            NotifyNodeUp(node!.Name);
    }

    /// <summary>Asks <paramref name="node"/> for its whole route table and applies it with the deltas kept meanwhile.</summary>
    private async Task SyncAsync(RemoteNode node, long generation)
    {
        RouteSnapshot.Decoded? snapshot = null;
        try
        {
            var reply = await LargeReply.RequestAsync(_nats, node.SnapshotSubject, [], TimeSpan.FromSeconds(2), _stop.Token).ConfigureAwait(false);
            if (reply.Data is { } data && RouteSnapshot.TryDecode(data, out var decoded))
                snapshot = decoded;
        }
        catch (Exception ex) when (ex is NatsException or OperationCanceledException or TimeoutException)
        {
            LogSnapshotFailed(_logger, node.Name, ex.Message);
        }
        lock (_members)
        {
            if (node.SyncGeneration != generation)
                return;
            node.SyncInFlight = false;
            if (snapshot is not { } table || table.Boot != node.Boot || !node.IsUp)
                return; // the next heartbeat asks again
            var first = !node.EverSynced;
            var before = node.Routes.Count;
            Withdraw(node);
            foreach (var filter in table.Filters)
                AddRoute(node, filter);
            node.AppliedVersion = table.Version;
            node.Synced = true;
            node.EverSynced = true;
            node.Pending.Sort((a, b) => a.Version.CompareTo(b.Version));
            foreach (var delta in node.Pending)
            {
                if (delta.Version <= node.AppliedVersion)
                    continue;
                if (delta.Version != node.AppliedVersion + 1)
                {
                    node.Synced = false; // still a gap: the next heartbeat asks again
                    break;
                }
                Apply(node, delta);
            }
            node.Pending.Clear();
            if (first)
                LogNodeSynced(_logger, node.Name, node.Routes.Count);
            else
                LogNodeResynced(_logger, node.Name, before, node.Routes.Count);
        }
    }

    /// <summary>Caller holds <c>_members</c>' lock.</summary>
    private void Apply(RemoteNode node, ControlMessage.Decoded delta)
    {
        if (delta.Kind == ControlKind.RouteAdded)
            AddRoute(node, delta.Filter);
        else if (node.Routes.Remove(delta.Filter) && _remoteRoutes.Remove(node, delta.Filter))
            Interlocked.Decrement(ref _remoteRouteCount);
        node.AppliedVersion = delta.Version;
    }

    /// <summary>Caller holds <c>_members</c>' lock.</summary>
    private void AddRoute(RemoteNode node, string filter)
    {
        if (!IsValidRoute(filter) || !node.Routes.Add(filter))
            return;
        _remoteRoutes.Add(node, filter);
        Interlocked.Increment(ref _remoteRouteCount);
    }

    /// <summary>A filter, or <c>$share/{group}/{filter}</c>: anything else from another node is ignored.</summary>
    private static bool IsValidRoute(string route) =>
        (!Topics.TryParseShared(route, out var group, out var filter) || group is not null) && Topics.IsValidFilter(filter);

    /// <summary>Removes every route of <paramref name="node"/>: nothing is forwarded to it any more. Caller holds <c>_members</c>' lock.</summary>
    private void Withdraw(RemoteNode node)
    {
        foreach (var filter in node.Routes)
        {
            if (_remoteRoutes.Remove(node, filter))
                Interlocked.Decrement(ref _remoteRouteCount);
        }
        node.Routes.Clear();
        node.Synced = false;
        node.Pending.Clear();
    }

    /// <summary>
    /// A node that is down is not sent again what it did not acknowledge: those forwards were for its routes of
    /// then; if it comes back (a healed split), it skips them (the oldest number held tells it so). Their publishers
    /// waiting for PUBACK/PUBREC get it now: the message reached every other node it was for.
    /// </summary>
    /// <param name="node">The node.</param>
    /// <param name="why">For the log.</param>
    /// <param name="redispatch">
    /// Whether its unacknowledged share-group forwards go to another node with members of their groups
    /// (<see cref="ShareRedispatch"/>): yes for a node down, gone or restarted; no when this node itself stops or leaves.
    /// </param>
    private void ForgetForwards(RemoteNode node, string why, bool redispatch = true)
    {
        List<ReturnedForward>? returned = redispatch ? [] : null;
        var released = node.Out.Forget(returned);
        if (returned is { Count: > 0 })
        {
            // Off the members' lock (the caller's): a dropped message runs message.dropped's callbacks.
            var from = node.Name;
            _ = Task.Run(() => Redispatch(returned, from));
        }
        if (released == 0)
            return;
        Interlocked.Add(ref _forwardReleased, released);
        LogForwardsReleased(_logger, released, node.Name, why);
    }

    /// <summary>Nodes silent for cluster.node_timeout are down: their routes go, and their persistent sessions are adopted (<see cref="AdoptSessionsAsync"/>).</summary>
    private void ExpireSilentNodes()
    {
        var now = _core.TimeProvider.GetTimestamp();
        var timeout = (long)(_options.NodeTimeout.TotalSeconds * _core.TimeProvider.TimestampFrequency);
        List<string>? dead = null;
        lock (_members)
        {
            foreach (var node in _members.Values)
            {
                if (!node.IsUp || now - node.LastSeen <= timeout)
                    continue;
                node.IsUp = false;
                var routes = node.Routes.Count;
                Withdraw(node);
                ForgetForwards(node, "down");
                node.SyncGeneration++; // a snapshot still on its way is not applied
                node.SyncInFlight = false;
                LogNodeDown(_logger, node.Name, _options.NodeTimeout.TotalMilliseconds, routes);
                (dead ??= []).Add(node.Name);
            }
        }
        if (dead is not null && IsAdopter())
            _ = Task.Run(() => AdoptSessionsAsync(dead));
    }
}
