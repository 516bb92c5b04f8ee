using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Cluster;
using Broker.Core.Routing;

namespace Broker.Core.Hosting;

/// <summary>What Broker.Cluster may use of the core: this node's identity, its routing, and delivery of forwarded messages.</summary>
public interface IClusterPort
{
    /// <summary>This node's name (<c>node.name</c>).</summary>
    string NodeName { get; }

    /// <summary>The broker's clock.</summary>
    TimeProvider TimeProvider { get; }

    /// <summary>When this node started.</summary>
    DateTimeOffset StartedAt { get; }

    /// <summary>Clients connected to this node now.</summary>
    int Connections { get; }

    /// <summary>Whether an event should be logged now (<c>log.throttle_*</c>): false while it floods.</summary>
    bool ShouldLog(int eventId, string name, string? key);

    /// <summary>
    /// Joins this node's routing to <paramref name="link"/>: from now on it is told of every route change and handed
    /// every message published here. Returns the routes this node has now (for its first announcement). Call before
    /// the listeners open, or again after <see cref="Detach"/> (<c>ctl cluster join</c>).
    /// </summary>
    List<string> Attach(IClusterLink link);

    /// <summary>
    /// Ends what <see cref="Attach"/> began (<c>ctl cluster leave</c>): route changes and messages published here stay on
    /// this node. A publish already past its read of the link may still hand it one message.
    /// </summary>
    void Detach();

    /// <summary>
    /// A message another node forwarded here: delivered to this node's subscribers within <paramref name="scope"/> only,
    /// never forwarded again (<c>message.publish</c> ran on the node it was published on). Completes once it is in their
    /// sessions. When it left a connected subscriber more than half full and <paramref name="waitIfBehind"/> is true,
    /// the result is what a publisher here would wait for before reading on: it completes when that subscriber has
    /// caught up (<c>session.backpressure_timeout</c> at most, at once when it is declared slow); null otherwise.
    /// </summary>
    ValueTask<Task?> DeliverForwardedAsync(BrokerMessage message, DeliveryScope scope, bool waitIfBehind);

    /// <summary>
    /// A message forwarded from this node for a share group that no node could serve in the end (each chosen node had
    /// lost its last member, or went down, and no other node has members): reported to <c>message.dropped</c> with reason
    /// <c>no_subscribers</c>, as for a message nobody subscribed to.
    /// </summary>
    void DroppedForShareGroup(BrokerMessage message);

    /// <summary>
    /// Completes when what was delivered so far is as durable as this node's persistence makes a client's PUBLISH
    /// before its PUBACK: on disk with <c>persistence.sync = sync</c> (one write for everything meanwhile), at once
    /// otherwise. The cluster acknowledges forwards after it. Faults when the store cannot write.
    /// </summary>
    Task DurableAsync();

    /// <summary>
    /// Another node now owns <paramref name="clientId"/> (<see cref="IClusterLink.ClaimClientAsync"/> there): its
    /// connection here, if any, is closed (MQTT 5: DISCONNECT 0x8E Session taken over) and its session ends here. Returns
    /// the session's state in the handover form for the new owner when it outlives connections (expiry &gt; 0) and
    /// <paramref name="discard"/> is false; else null.
    /// </summary>
    Task<byte[]?> ReleaseClientAsync(string clientId, bool discard);

    /// <summary>The client ids with a session on this node now, connected or not (restored from the store, or offline).</summary>
    List<string> SessionClients();

    /// <summary>
    /// The record of this node's session of <paramref name="clientId"/> in the handover form, without its messages and
    /// will, for the cluster's copy (<see cref="IClusterLink.SessionChanged"/>); null when there is none here that
    /// outlives its connection.
    /// </summary>
    byte[]? SessionCopy(string clientId);

    /// <summary>
    /// What a session copy (<see cref="SessionCopy"/>'s form, possibly another node's or an older layout's) says of its
    /// session's end: its expiry interval in seconds (<see cref="uint.MaxValue"/>: never) and when it went offline, in
    /// Unix ms of the writer's clock (0: connected when the copy was made). Null when the copy cannot be read.
    /// </summary>
    (uint ExpiryInterval, long DisconnectedAtUnixMs)? ReadSessionCopy(byte[] copy);

    /// <summary>Whether this node's session of <paramref name="clientId"/> outlives its connection (its expiry is above 0), so the cluster keeps a copy of it.</summary>
    bool SessionOutlivesConnection(string clientId);

    /// <summary>Whether this node keeps its sessions on disk (<c>persistence = on</c>): a killed node's come back with it.</summary>
    bool KeepsSessions { get; }

    /// <summary>
    /// Adopts the cluster's copy of a dead node's session (<see cref="SessionCopy"/>'s form): restored here offline, so
    /// that its messages queue here until its client returns, if this node has no session of <paramref name="clientId"/>
    /// and <paramref name="claim"/> (run under the client id's connect lock, so no CONNECT or takeover of that id runs
    /// meanwhile) returns true. False otherwise.
    /// </summary>
    Task<bool> AdoptSessionAsync(string clientId, byte[] copy, Func<Task<bool>> claim);

    /// <summary>The messages a session's state in the handover form (<see cref="ReleaseClientAsync"/>) holds that its client may not have had yet: queued, or sent and not acknowledged.</summary>
    int UndeliveredMessages(byte[] handover);

    /// <summary>
    /// What another node held for <paramref name="clientId"/> when the id became this node's (<see
    /// cref="UndeliveredMessages"/> of its state in the handover form): delivered into this node's session of the id,
    /// after what it holds, in their order. Returns how many; 0 when there is no session of the id here.
    /// </summary>
    Task<int> TakeUndeliveredAsync(string clientId, byte[] handover);

    /// <summary>This node's bans in force (the banned list the cluster keeps the same on every node).</summary>
    List<AccessControl.Ban> Bans();

    /// <summary>
    /// Tells <paramref name="observer"/> of every ban added or lifted on this node from now on (one observer; a later
    /// one replaces it). Disposing the result stops it, unless another observer replaced it meanwhile.
    /// </summary>
    IDisposable ObserveBans(Cluster.IBanObserver observer);

    /// <summary>A ban made on another node: added here (persisted, not told to the observer); the matching clients here are disconnected if <paramref name="disconnect"/>.</summary>
    Task ApplyBanAsync(AccessControl.Ban ban, bool disconnect);

    /// <summary>A ban lifted on another node: lifted here (not told to the observer); false if there was none.</summary>
    bool ApplyUnban(AccessControl.BanKind kind, string who);

    /// <summary>
    /// Bans lifted on this node, kept, across restarts, until the cluster has them (<see cref="ForgetLifted"/>): lifted
    /// while no observer was told of its changes (it had left its cluster, was in none, or the cluster had not attached
    /// yet), or told and not yet written.
    /// </summary>
    List<AccessControl.LiftedBan> LiftedBans();

    /// <summary>The cluster's list has <paramref name="lifted"/>, or a later change of the same ban: it is no longer kept.</summary>
    void ForgetLifted(AccessControl.LiftedBan lifted);
}

internal sealed class ClusterPort(BrokerEngine engine) : IClusterPort
{
    public string NodeName => engine.BrokerOptions.NodeName;

    public TimeProvider TimeProvider => engine.TimeProvider;

    public DateTimeOffset StartedAt => engine.StartedAt;

    public int Connections => engine.Metrics.Connections;

    public bool ShouldLog(int eventId, string name, string? key) => engine.LogThrottle.ShouldLog(eventId, name, key);

    public List<string> Attach(IClusterLink link) => engine.AttachCluster(link);

    public void Detach() => engine.DetachCluster();

    public ValueTask<Task?> DeliverForwardedAsync(BrokerMessage message, DeliveryScope scope, bool waitIfBehind)
    {
        var routed = engine.DeliverForwardedAsync(message, scope);
        if (!routed.IsCompletedSuccessfully)
            return AfterRouteAsync(routed, waitIfBehind);
        return ValueTask.FromResult(CaughtUp(routed.Result, waitIfBehind));
    }

    private async ValueTask<Task?> AfterRouteAsync(ValueTask<PublishOutcome> routed, bool waitIfBehind) =>
        CaughtUp(await routed.ConfigureAwait(false), waitIfBehind);

    private Task? CaughtUp(PublishOutcome outcome, bool waitIfBehind)
    {
        if (!waitIfBehind || outcome.Behind is not { } behind)
            return null;
        var wait = engine.WaitForSubscriberAsync(behind);
        return wait.IsCompletedSuccessfully ? null : wait.AsTask();
    }

    public void DroppedForShareGroup(BrokerMessage message) => engine.OnDropped(message, "no_subscribers", false, null);

    public Task DurableAsync() => engine.SyncPersistence ? engine.Journal!.CommitAsync() : Task.CompletedTask;

    public Task<byte[]?> ReleaseClientAsync(string clientId, bool discard) => engine.Sessions.ReleaseAsync(clientId, discard);

    public byte[]? SessionCopy(string clientId) =>
        engine.Sessions.TryGet(clientId, out var session) && session.CopyRecord(engine.Now.ToUnixTimeMilliseconds()) is { } record
            ? Persistence.SessionRecords.EncodeHandover([record])
            : null;

    public (uint ExpiryInterval, long DisconnectedAtUnixMs)? ReadSessionCopy(byte[] copy)
    {
        try
        {
            foreach (var (key, value) in Persistence.SessionRecords.DecodeHandover(copy))
            {
                if (Persistence.SessionRecords.TryParseKey(key, out var kind, out _, out _) && kind == 's')
                {
                    var record = Persistence.SessionRecords.ReadSession(value);
                    return (record.ExpiryInterval, record.DisconnectedAtUnixMs);
                }
            }
            return null;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or ArgumentException or FormatException)
        {
            return null;
        }
    }

    public bool SessionOutlivesConnection(string clientId) =>
        engine.Sessions.TryGet(clientId, out var session) && session.ExpiryInterval > 0 && !session.IsTerminated;

    public bool KeepsSessions => engine.Journal is not null;

    public Task<bool> AdoptSessionAsync(string clientId, byte[] copy, Func<Task<bool>> claim) => engine.Sessions.AdoptCopyAsync(clientId, copy, claim);

    public int UndeliveredMessages(byte[] handover) => Sessions.SessionManager.Undelivered(handover).Count;

    public Task<int> TakeUndeliveredAsync(string clientId, byte[] handover) => engine.Sessions.TakeUndeliveredAsync(clientId, handover);

    public List<AccessControl.Ban> Bans() => engine.Banned.List();

    public IDisposable ObserveBans(Cluster.IBanObserver observer)
    {
        engine.Banned.Observer = observer;
        return new BanObserving(engine.Banned, observer);
    }

    public Task ApplyBanAsync(AccessControl.Ban ban, bool disconnect) => engine.BanAsync(ban, fromCluster: true, disconnect);

    public bool ApplyUnban(AccessControl.BanKind kind, string who) => engine.Banned.ApplyRemove(kind, who);

    public List<AccessControl.LiftedBan> LiftedBans() => engine.Banned.Lifted();

    public void ForgetLifted(AccessControl.LiftedBan lifted) => engine.Banned.ForgetLifted(lifted);

    private sealed class BanObserving(AccessControl.BannedList banned, Cluster.IBanObserver observer) : IDisposable
    {
        public void Dispose()
        {
            if (ReferenceEquals(banned.Observer, observer))
                banned.Observer = null;
        }
    }

    public List<string> SessionClients()
    {
        var ids = new List<string>();
        foreach (var session in engine.Sessions.Enumerate())
            ids.Add(session.ClientId);
        return ids;
    }
}

/// <summary>
/// Other nodes' routes, matched as this node's router matches its subscriptions (the same trie): a topic finds each
/// node with an ordinary route once, and for each share group (a route <c>$share/{group}/{filter}</c>) one of the nodes
/// with members, in turn.
/// </summary>
/// <typeparam name="TNode">How the caller names a node.</typeparam>
/// <remarks>
/// <see cref="Add"/> and <see cref="Remove"/> for one node must not run concurrently with each other (the cluster makes
/// them under its members' lock); <see cref="Match"/> may run on any thread at any time.
/// </remarks>
public sealed class RouteIndex<TNode> where TNode : class
{
    private static readonly SubscriptionOptions Options = new() { Qos = MqttQos.AtLeastOnce };

    [ThreadStatic]
    private static List<RouteMatch<Entry>>? t_matches;

    private readonly Router<Entry> _router = new(SharedSubscriptionStrategy.RoundRobin);
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<TNode, Entry> _entries = [];

    /// <summary>Routes held, over every node.</summary>
    public int Count => _router.SubscriptionCount;

    /// <summary>Adds <paramref name="route"/> of <paramref name="node"/>; false if it had it already.</summary>
    public bool Add(TNode node, string route) => _router.Subscribe(_entries.GetValue(node, static n => new Entry(n)), route, Options);

    /// <summary>Removes <paramref name="route"/> of <paramref name="node"/>; false if it did not have it.</summary>
    public bool Remove(TNode node, string route) => _entries.TryGetValue(node, out var entry) && _router.Unsubscribe(entry, route);

    /// <summary>
    /// Adds to <paramref name="hits"/> the nodes <paramref name="topic"/> goes to: each node with a matching ordinary
    /// route once (<see cref="RouteHit{TNode}.Group"/> null), and one node per matching share group.
    /// </summary>
    public void Match(string topic, List<RouteHit<TNode>> hits)
    {
        var matches = t_matches ??= new List<RouteMatch<Entry>>(4);
        matches.Clear();
        _router.Match(topic, null, matches);
        foreach (var match in matches)
            hits.Add(new RouteHit<TNode>(match.Subscriber.Node, match.Group?.Name, match.Group?.Filter));
        matches.Clear();
    }

    private sealed class Entry(TNode node) : ISubscriber
    {
        public TNode Node { get; } = node;

        public string ClientId => "";

        public bool IsConnected => true;
    }
}

/// <summary>A node a topic goes to (<see cref="RouteIndex{TNode}.Match"/>): for a share group, the group's name and filter.</summary>
public readonly record struct RouteHit<TNode>(TNode Node, string? Group, string? Filter);
