using System.Runtime.InteropServices;
using System.Threading.Channels;
using Broker.Abstractions;
using Broker.Core.Hosting;
using Broker.Core.Cluster;
using Broker.Core.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;

namespace Broker.Cluster;

/// <summary>
/// This node as one of a cluster over NATS (issue 24, first part): membership by heartbeat, the route table replicated
/// as EMQX replicates it, and each PUBLISH forwarded once to every other node with a matching route.
/// </summary>
/// <remarks>
/// <para>Routes are a filter's ordinary subscriptions (<c>a/b</c>) and each share group on a filter
/// (<c>$share/g/a/b</c>), as <see cref="IRouteObserver"/> names them. A share group spans the cluster: a message goes
/// to one member of it in the whole cluster. If the node it was published on has a member, that member gets it and no
/// other node is asked (EMQX's <c>local</c> strategy); otherwise one node with members is chosen, the nodes with
/// members of that group and filter taking turns (round-robin per group), and that node alone delivers it to one of
/// its members, by the node's own <c>shared_subscription_strategy</c>. A forward says which share groups it is for
/// (<see cref="ForwardCodec"/>), so the receiving node serves those groups only, and its ordinary subscribers only if
/// this node saw their route.</para>
/// <para>NATS subjects, with <c>c</c> = cluster.name and <c>n</c> = a node's <see cref="NodeSubjects.Token"/>:</para>
/// <list type="bullet">
/// <item><c>c.node.n</c>: everything node n says about itself, in order on its one connection: heartbeats
/// (<see cref="ControlMessage"/> H, every cluster.heartbeat_interval, with its route version), route added (A) and
/// removed (D), each numbered by that version, and bye (B) at a clean stop. One subject per node, so NATS keeps them in
/// the order they were sent.</item>
/// <item><c>c.snap.n</c>: request/reply: node n's whole route table and the version it is at. A node asks when it
/// first hears another (or hears it again after it was down, or finds a version missing); deltas that arrive while it
/// waits are kept and those above the snapshot's version applied after it.</item>
/// <item><c>c.own.n</c>: request/reply: another node has become a client id's owner and takes it from node n (its
/// connection closed, its session handed over; see ClusterNode.Ownership.cs). The owners are kept in the JetStream
/// key-value bucket <c>c-owners</c>.</item>
/// <item><c>c.fwd.n</c>: messages forwarded to node n (<see cref="ForwardCodec"/>: <see cref="BrokerMessageCodec"/>'s
/// form, behind an envelope naming the share groups n was chosen for, if any), each sent once per node however many of
/// its subscribers match, numbered per pair of nodes and sent in batches (<see cref="ForwardBatch"/>, everything queued
/// for n when the forwarding loop wakes). One connection per node and one subject per receiving node keep one
/// publisher's messages in order.</item>
/// <item><c>c.ack.n</c>: the receivers' acknowledgements of node n's forwards (<see cref="ForwardAck"/>), sent once
/// they are in the receiver's sessions. A QoS 1/2 publisher's PUBACK/PUBREC waits for them, and past a high mark of
/// unacknowledged forwards its connection waits too (<see cref="ForwardQueue"/>: QoS end to end, back-pressure).</item>
/// </list>
/// <para>A node not heard from within cluster.node_timeout is down: its routes are withdrawn, so nothing is forwarded to
/// it. While this node's own NATS connection is down it serves its clients as a single node (the others' routes expire
/// the same way); NATS.Net reconnects by itself, and the nodes sync again from the next heartbeats.</para>
/// <para>Threading: <see cref="RouteAdded"/>/<see cref="RouteRemoved"/> come under the router's write lock and only
/// queue; <see cref="Forward"/> runs on publishers' threads, matches the remote routes lock-free and only queues;
/// everything about other nodes changes under <c>_members</c>' lock.</para>
/// </remarks>
internal sealed partial class ClusterNode : IClusterLink, IRedispatchTargets, IAsyncDisposable
{
    [ThreadStatic]
    private static List<RouteHit<RemoteNode>>? t_matches;
    [ThreadStatic]
    private static List<ForwardTarget>? t_targets;

    private readonly ClusterOptions _options;
    private readonly IClusterPort _core;
    private readonly ILogger _logger;
    private readonly Func<string, string> _resolvePath;
    private readonly NodeSubjects _subjects;
    private readonly string _boot = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.NextInt64()));
    private readonly NatsConnection _nats;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];

    // This node's routes: changed under the router's write lock, read under this lock by the snapshot reply.
    private readonly Lock _routesLock = new();
    private readonly HashSet<string> _localRoutes = new(StringComparer.Ordinal);
    private long _routeVersion;
    private long _publishedVersion;
    private readonly Channel<ControlMessage> _control = Channel.CreateUnbounded<ControlMessage>(new UnboundedChannelOptions { SingleReader = true });

    // Nodes with forwards to send (each once while RemoteNode.Waking is 1): the forwarding loop's wake-ups.
    private readonly Channel<RemoteNode> _forward = Channel.CreateUnbounded<RemoteNode>(new UnboundedChannelOptions { SingleReader = true });
    private long _forwardDropped;
    private long _forwardReleased;
    private long _forwardedIn;
    private long _forwardResent;
    private long _forwardRedispatched;
    private readonly string _token;

    // The numbered forwards from each other node, by its token: how far this node has them (see ReceiveForwardsAsync).
    private readonly Dictionary<string, Inbound> _inbound = new(StringComparer.Ordinal);

    // Other nodes, by subject token; and one router whose "subscribers" are nodes, for one trie walk per publish.
    private readonly Dictionary<string, RemoteNode> _members = new(StringComparer.Ordinal);
    // Share groups: one member node per (group, filter) and message, each in turn (RoundRobin), from the nodes with members.
    private readonly RouteIndex<RemoteNode> _remoteRoutes = new();
    private int _remoteRouteCount;
    private bool _wasConnected;
    private string? _natsError;
    private volatile bool _natsGaveUp;
    private int _disposed;

    public ClusterNode(ClusterOptions options, string nodeName, IClusterPort core, ILoggerFactory loggerFactory, Func<string, string> resolvePath)
    {
        _options = options;
        _core = core;
        _resolvePath = resolvePath;
        NodeName = nodeName;
        _logger = loggerFactory.CreateLogger("Broker.Cluster");
        _subjects = new NodeSubjects(options.Name);
        _token = _subjects.Token(nodeName);
        _nats = new NatsConnection(NatsOptions(options, nodeName, resolvePath, loggerFactory));
        _nats.ConnectionOpened += OnConnectionOpenedAsync;
        _nats.ConnectionDisconnected += OnConnectionDisconnectedAsync;
        _nats.MessageDropped += OnMessageDroppedAsync;
    }

    /// <summary>This node's name (node.name).</summary>
    public string NodeName { get; }

    /// <summary>The cluster's name (cluster.name).</summary>
    public string ClusterName => _options.Name;

    /// <summary>The NATS servers this node uses (cluster.nats.servers, or as <c>ctl cluster join</c> gave them).</summary>
    public string Servers => _options.Servers;

    /// <summary>Whether this node's connection to NATS is open now.</summary>
    public bool NatsConnected => _nats.ConnectionState == NatsConnectionState.Open;

    /// <summary>The NATS server this node is connected to (host:port), or null.</summary>
    public string? NatsServer => NatsConnected && _nats.ServerInfo is { } info ? $"{info.Host}:{info.Port}" : null;

    /// <summary>Why this node's NATS connection is not open (what the last attempt was told), or null when it is open or not known yet.</summary>
    public string? NatsError => NatsConnected ? null : Volatile.Read(ref _natsError);

    /// <summary>Messages this node received from other nodes and delivered here.</summary>
    public long ForwardedIn => Volatile.Read(ref _forwardedIn);

    /// <summary>Forwards sent again because the receiving node did not acknowledge them (lost on the way through NATS).</summary>
    public long ForwardResent => Volatile.Read(ref _forwardResent);

    /// <summary>Share-group forwards sent to another node because the chosen one lost its last member of the group or went down.</summary>
    public long ForwardRedispatched => Volatile.Read(ref _forwardRedispatched);

    /// <summary>QoS 0 messages that could not be queued for another node (cluster.max_forward_queue reached).</summary>
    public long ForwardDropped => Volatile.Read(ref _forwardDropped);

    /// <summary>
    /// QoS 1/2 forwards whose publisher was acknowledged without the receiving node's acknowledgement: the node was
    /// found down or left (the message reached the other nodes), or did not acknowledge within cluster.node_timeout.
    /// </summary>
    public long ForwardReleased => Volatile.Read(ref _forwardReleased);

    /// <summary>Routes of this node: distinct filters with a local ordinary subscriber, and <c>$share/g/f</c> for each share group with a local member.</summary>
    public int LocalRouteCount
    {
        get
        {
            lock (_routesLock)
                return _localRoutes.Count;
        }
    }

    /// <summary>
    /// Attaches to the engine's routing and starts the loops; connecting to NATS goes on in the background, so a node
    /// whose NATS is unreachable starts and serves its own clients.
    /// </summary>
    public void Start()
    {
        foreach (var route in _core.Attach(this))
            RouteAdded(route);
        LogStarting(_logger, NodeName, _options.Name, _options.Servers);
        _loops.Add(Task.Run(() => ConnectAsync(_stop.Token)));
        _loops.Add(Task.Run(() => DiagnoseAsync(_stop.Token)));
        _loops.Add(Task.Run(() => PublishControlAsync(_stop.Token)));
        _loops.Add(Task.Run(() => PublishForwardsAsync(_stop.Token)));
        _loops.Add(Task.Run(() => ReceiveControlAsync(_stop.Token)));
        _loops.Add(Task.Run(() => ServeSnapshotsAsync(_stop.Token)));
        _loops.Add(Task.Run(() => ReceiveForwardsAsync(_stop.Token)));
        _loops.Add(Task.Run(() => ReceiveAcksAsync(_stop.Token)));
        _loops.Add(Task.Run(() => TickAsync(_stop.Token)));
        _loops.Add(Task.Run(() => PublishPluginMessagesAsync(_stop.Token)));
        _loops.Add(Task.Run(() => ReceivePluginBroadcastsAsync(_stop.Token)));
        _loops.Add(Task.Run(() => ServePluginRequestsAsync(_stop.Token)));
        _loops.Add(Task.Run(() => ServeQueriesAsync(_stop.Token)));
        _loops.Add(Task.Run(() => ServeOwnershipAsync(_stop.Token)));
        _loops.Add(Task.Run(() => ServeUndeliveredAsync(_stop.Token)));
        _loops.Add(Task.Run(() => ServeHeldAsync(_stop.Token)));
        _loops.Add(Task.Run(() => ReplicateBansAsync(_stop.Token)));
        _loops.Add(Task.Run(() => CopySessionsAsync(_stop.Token)));
        _loops.Add(Task.Run(() => HoldConnectsUntilBansReadAsync(_stop.Token)));
    }

    /// <inheritdoc/>
    public void RouteAdded(string route)
    {
        lock (_routesLock)
        {
            if (!_localRoutes.Add(route))
                return;
            _control.Writer.TryWrite(new ControlMessage(ControlKind.RouteAdded, ++_routeVersion, route));
        }
    }

    /// <inheritdoc/>
    public void RouteRemoved(string route)
    {
        lock (_routesLock)
        {
            if (!_localRoutes.Remove(route))
                return;
            _control.Writer.TryWrite(new ControlMessage(ControlKind.RouteRemoved, ++_routeVersion, route));
        }
    }

    /// <inheritdoc/>
    public ForwardOutcome Forward(BrokerMessage message, LocalDeliveries local)
    {
        if (Volatile.Read(ref _remoteRouteCount) == 0)
            return default;
        var matches = t_matches ??= new List<RouteHit<RemoteNode>>(4);
        matches.Clear();
        _remoteRoutes.Match(message.Topic, matches);
        if (matches.Count == 0)
            return default;
        var targets = t_targets ??= new List<ForwardTarget>(4);
        targets.Clear();
        foreach (var match in matches)
        {
            // An ordinary route: once per node. A share group: the one node the strategy chose, unless it has a member
            // here (EMQX's "local" preference): then this node alone serves it.
            if (match.Group is not { } group)
                TargetFor(targets, match.Node).Ordinary = true;
            else if (!local.ServesShareGroup(group, match.Filter!))
                (TargetFor(targets, match.Node).Groups ??= []).Add((group, match.Filter!));
        }
        matches.Clear();
        byte[]? plain = null; // the same bytes for every node that only has ordinary subscribers
        var reliable = message.Qos != MqttQos.AtMostOnce;
        var now = _core.TimeProvider.GetTimestamp();
        var sent = 0;
        Task? acknowledged = null;
        List<Task>? acknowledgements = null;
        Task? behind = null;
        foreach (var target in targets)
        {
            var data = target.Groups is null
                ? plain ??= ForwardCodec.Encode(message)
                : ForwardCodec.Encode(message, target.Ordinary, target.Groups);
            var node = target.Node;
            if (!node.Out.Enqueue(data, reliable, now, out var acked, out var nodeBehind, out var full))
            {
                // Full: a QoS 0 message only (QoS 1/2 ones are never refused for that). Else the node was just found down.
                if (full)
                    Interlocked.Increment(ref _forwardDropped);
                continue;
            }
            Interlocked.Increment(ref node.ForwardedTo);
            sent++;
            if (acked is not null)
            {
                if (acknowledged is null)
                    acknowledged = acked;
                else
                    (acknowledgements ??= [acknowledged]).Add(acked);
            }
            behind ??= nodeBehind;
            Wake(node);
        }
        targets.Clear();
        if (acknowledgements is not null)
            acknowledged = Task.WhenAll(acknowledgements);
        return new ForwardOutcome(sent, acknowledged, behind);
    }

    /// <summary>Puts <paramref name="node"/> on the forwarding loop's list, unless it is there already.</summary>
    private void Wake(RemoteNode node)
    {
        if (Interlocked.Exchange(ref node.Waking, 1) == 0)
            _forward.Writer.TryWrite(node);
    }

    private static ref ForwardTarget TargetFor(List<ForwardTarget> targets, RemoteNode node)
    {
        var span = CollectionsMarshal.AsSpan(targets);
        for (var i = 0; i < span.Length; i++)
        {
            if (ReferenceEquals(span[i].Node, node))
                return ref span[i];
        }
        targets.Add(new ForwardTarget { Node = node });
        return ref CollectionsMarshal.AsSpan(targets)[^1];
    }

    /// <summary>What one node is sent a message for.</summary>
    private struct ForwardTarget
    {
        public RemoteNode Node;
        public bool Ordinary;
        public List<(string Group, string Filter)>? Groups;
    }

    /// <summary>Every node this node knows, itself first, for <c>ctl cluster status</c> and <c>/api/v5/nodes</c>.</summary>
    public List<NodeStatus> Status()
    {
        var now = _core.TimeProvider.GetUtcNow();
        var result = new List<NodeStatus>
        {
            new(NodeName, true, "running", _core.StartedAt, now - _core.StartedAt, _core.Connections, LocalRouteCount,
                0, ForwardedIn, null),
        };
        lock (_members)
        {
            foreach (var node in _members.Values.OrderBy(n => n.Name, StringComparer.Ordinal))
            {
                var lastSeen = TimeSpan.FromSeconds((_core.TimeProvider.GetTimestamp() - node.LastSeen) / (double)_core.TimeProvider.TimestampFrequency);
                result.Add(new NodeStatus(node.Name, false, node.IsUp ? "running" : "down", node.StartedAt, now - node.StartedAt,
                    node.Connections, node.Routes.Count, Volatile.Read(ref node.ForwardedTo), 0, lastSeen));
            }
        }
        return result;
    }

    public ValueTask DisposeAsync() => StopAsync(ControlKind.Bye);

    /// <summary>Stops, saying <paramref name="farewell"/> (bye: stopping, still a member; leave: no longer a member).</summary>
    private async ValueTask StopAsync(ControlKind farewell)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        // The loops first (no heartbeat may follow the bye), then a bye, so the others withdraw this node's routes now
        // rather than after cluster.node_timeout.
        await _stop.CancelAsync().ConfigureAwait(false);
        _control.Writer.TryComplete();
        _forward.Writer.TryComplete();
        PluginOut.Writer.TryComplete();
        try
        {
            await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Cancelled, or the connection went with them: they are stopping either way.
        }
        // Publishers waiting for other nodes' acknowledgements are served alone from now on (or stopping): acknowledged.
        lock (_members)
        {
            foreach (var node in _members.Values)
                ForgetForwards(node, "this node left the cluster or stopped", redispatch: false);
        }
        if (NatsConnected)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await _nats.PublishAsync(_subjects.Node(_subjects.Token(NodeName)), ControlMessage.Encode(farewell, _boot, Volatile.Read(ref _publishedVersion), "", 0, 0, NodeName), cancellationToken: cts.Token).ConfigureAwait(false);
                await _nats.PingAsync(cts.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or NatsException)
            {
            }
        }
        await _nats.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    internal static NatsOpts NatsOptions(ClusterOptions options, string nodeName, Func<string, string> resolvePath, ILoggerFactory loggerFactory)
    {
        var tls = NatsTlsOpts.Default;
        if (options.Tls || options.ServerList.Any(s => s.StartsWith("tls://", StringComparison.OrdinalIgnoreCase)))
        {
            tls = new NatsTlsOpts
            {
                Mode = TlsMode.Require,
                CaFile = options.CaCertFile.Length > 0 ? resolvePath(options.CaCertFile) : null,
                CertFile = options.CertFile.Length > 0 ? resolvePath(options.CertFile) : null,
                KeyFile = options.KeyFile.Length > 0 ? resolvePath(options.KeyFile) : null,
                InsecureSkipVerify = options.Verify == NatsVerify.VerifyNone,
            };
        }
        return NatsOpts.Default with
        {
            Url = string.Join(',', options.ServerList),
            Name = nodeName,
            LoggerFactory = loggerFactory,
            AuthOpts = NatsAuthOpts.Default with
            {
                Username = options.Username.Length > 0 ? options.Username : null,
                Password = options.Password.Length > 0 ? options.Password : null,
                Token = options.Token.Length > 0 ? options.Token : null,
            },
            TlsOpts = tls,
            // Keep trying for ever, at start as later: a node without NATS serves its own clients meanwhile.
            RetryOnInitialConnect = true,
            // In the order given: a node lists its nearest NATS server first.
            NoRandomize = true,
            MaxReconnectRetry = -1,
            ReconnectWaitMin = TimeSpan.FromMilliseconds(100),
            ReconnectWaitMax = TimeSpan.FromSeconds(2),
            // Forwarded messages wait here while this node delivers; the default (1024, then dropped) is too small for a burst.
            SubPendingChannelCapacity = 65_536,
        };
    }

    private async Task ConnectAsync(CancellationToken cancel)
    {
        try
        {
            await _nats.ConnectAsync().AsTask().WaitAsync(cancel).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex)
        {
            // NATS.Net retries for ever, except after the same authentication error twice: then it closes for good,
            // saying only that. One more attempt of this node's own gets the server's words ("Authorization Violation").
            var reason = await ProbeAsync(cancel).ConfigureAwait(false) ?? Innermost(ex);
            Volatile.Write(ref _natsError, reason + " (the NATS client stopped trying)");
            _natsGaveUp = true;
            LogConnectGaveUp(_logger, ClusterOptions.Redact(_options.Servers), reason);
        }
    }

    /// <summary>
    /// Says why NATS cannot be reached while it cannot: NATS.Net retries in the background and keeps its reasons to
    /// itself (a refused connection or a rejected certificate is logged at debug level or not at all). While the
    /// connection is not open, a probe of this node's own (one attempt, no retries) asks, after 1 s, then less and less
    /// often (every 30 s at most); the log gets a line when the reason changes, status shows the latest.
    /// </summary>
    private async Task DiagnoseAsync(CancellationToken cancel)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), _core.TimeProvider);
        var down = 0;
        var nextProbe = 1;
        string? logged = null;
        while (await timer.WaitForNextTickAsync(cancel).ConfigureAwait(false))
        {
            if (NatsConnected)
            {
                down = 0;
                nextProbe = 1;
                logged = null;
                continue;
            }
            if (_natsGaveUp || ++down < nextProbe)
                continue;
            nextProbe = down + Math.Min(down, 30);
            var reason = await ProbeAsync(cancel).ConfigureAwait(false);
            if (reason is null || NatsConnected)
                continue; // reachable: NATS.Net's own next attempt gets in
            Volatile.Write(ref _natsError, reason);
            if (reason != logged)
                LogConnectFailed(_logger, ClusterOptions.Redact(_options.Servers), reason);
            logged = reason;
        }
    }

    private Task<string?> ProbeAsync(CancellationToken cancel) => ProbeAsync(_options, NodeName, _resolvePath, cancel);

    /// <summary>
    /// One connection attempt to <paramref name="options"/>' servers, with the node's credentials and TLS: null, or why
    /// it failed (also what <c>ctl cluster join</c> asks before it changes anything).
    /// </summary>
    internal static async Task<string?> ProbeAsync(ClusterOptions options, string nodeName, Func<string, string> resolvePath, CancellationToken cancel)
    {
        var opts = NatsOptions(options, nodeName, resolvePath, NullLoggerFactory.Instance) with
        {
            Name = nodeName + " (probe)",
            RetryOnInitialConnect = false,
            MaxReconnectRetry = 0,
            ConnectTimeout = TimeSpan.FromSeconds(3),
        };
        await using var probe = new NatsConnection(opts);
        try
        {
            await probe.ConnectAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5), cancel).ConfigureAwait(false);
            return null;
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception ex)
        {
            var reason = Innermost(ex);
            // NATS.Net says only "can not connect uris: ..." when no server took the connection: ask the sockets why.
            return reason.StartsWith("can not connect", StringComparison.OrdinalIgnoreCase)
                ? await SocketReasonAsync(options.ServerList, cancel).ConfigureAwait(false) ?? reason
                : reason;
        }
    }

    /// <summary>Why a plain TCP connection to each server fails ("nats://10.0.0.1:4222: Connection refused; ..."), or null if one succeeds.</summary>
    private static async Task<string?> SocketReasonAsync(IReadOnlyList<string> servers, CancellationToken cancel)
    {
        var reasons = new List<string>();
        foreach (var server in servers)
        {
            if (!Uri.TryCreate(server, UriKind.Absolute, out var uri))
                continue;
            using var socket = new System.Net.Sockets.TcpClient();
            try
            {
                await socket.ConnectAsync(uri.Host, uri.Port, cancel).AsTask().WaitAsync(TimeSpan.FromSeconds(3), cancel).ConfigureAwait(false);
                return null;
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or TimeoutException)
            {
                var why = ex is TimeoutException ? "no answer in 3 s" : ex.Message;
                // The log line names the servers already: one server's reason stands alone.
                reasons.Add(servers.Count == 1 ? why : $"{ClusterOptions.Redact(server)}: {why}");
            }
        }
        return reasons.Count > 0 ? string.Join("; ", reasons) : null;
    }

    /// <summary>The innermost exception's message: NATS.Net wraps the one that says what happened ("can not start to connect nats server").</summary>
    private static string Innermost(Exception ex)
    {
        while (ex.InnerException is { } inner)
            ex = inner;
        return ex.Message;
    }

    private ValueTask OnConnectionOpenedAsync(object? sender, NatsEventArgs args)
    {
        LogNatsConnected(_logger, NatsServer ?? _options.Servers, _wasConnected ? "reconnected" : "connected");
        // A split, or this node's downtime, may have given its clients to others meanwhile: check them against the registry.
        RecheckClients();
        _wasConnected = true;
        Volatile.Write(ref _natsOpenedAt, _core.TimeProvider.GetTimestamp());
        EnsureRegistry();
        // Announce at once rather than at the next tick: the others sync from it.
        EnqueueHeartbeat();
        return ValueTask.CompletedTask;
    }

    private ValueTask OnConnectionDisconnectedAsync(object? sender, NatsEventArgs args)
    {
        LogNatsDisconnected(_logger, args.Message);
        return ValueTask.CompletedTask;
    }

    private ValueTask OnMessageDroppedAsync(object? sender, NatsMessageDroppedEventArgs args)
    {
        LogNatsDropped(_logger, args.Subject);
        return ValueTask.CompletedTask;
    }

    private void EnqueueHeartbeat() => _control.Writer.TryWrite(new ControlMessage(ControlKind.Heartbeat, 0, ""));

    /// <summary>This node's announcements, in order, on its one subject.</summary>
    private async Task PublishControlAsync(CancellationToken cancel)
    {
        var subject = _subjects.Node(_subjects.Token(NodeName));
        await foreach (var message in _control.Reader.ReadAllAsync(cancel).ConfigureAwait(false))
        {
            // A heartbeat says which version this node's announcements have reached; the others resync on a gap.
            var version = message.Kind == ControlKind.Heartbeat ? Volatile.Read(ref _publishedVersion) : message.Version;
            var data = ControlMessage.Encode(message.Kind, _boot, version, message.Filter,
                _core.Connections, _core.StartedAt.ToUnixTimeMilliseconds(), NodeName);
            try
            {
                await _nats.PublishAsync(subject, data, cancellationToken: cancel).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NatsException or TimeoutException)
            {
                // Lost: the others see the gap in the next heartbeat's version and ask for a snapshot.
            }
            if (message.Kind != ControlKind.Heartbeat)
                Volatile.Write(ref _publishedVersion, message.Version);
        }
    }

    /// <summary>
    /// Sends what each woken node has queued (<see cref="ForwardQueue"/>), as many forwards per NATS message as were
    /// queued when it woke, within <see cref="MaxBatchBytes"/>; a node whose forwards were rewound (a gap or a stall)
    /// gets them again from the oldest, on this same loop, so they never overtake newer ones.
    /// </summary>
    private async Task PublishForwardsAsync(CancellationToken cancel)
    {
        var batch = new List<byte[]>();
        await foreach (var node in _forward.Reader.ReadAllAsync(cancel).ConfigureAwait(false))
        {
            // Cleared before taking: whatever is queued from now on wakes this loop again.
            Volatile.Write(ref node.Waking, 0);
            var limit = MaxBatchBytes;
            while (true)
            {
                batch.Clear();
                var first = node.Out.TakeBatch(limit, batch, out var oldest);
                if (first == 0)
                    break;
                var data = ForwardBatch.Write(first, oldest, _token, _boot, batch);
                try
                {
                    // While NATS is reconnecting this waits (NATS.Net holds what is published meanwhile).
                    await _nats.PublishAsync(node.ForwardSubject, data, cancellationToken: cancel).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is NatsException or TimeoutException)
                {
                    // Still held by the node's queue: sent again when it does not acknowledge it.
                }
            }
        }
    }

    /// <summary>Bytes of forwards per NATS message: well below NATS' max_payload (1 MB by default), whatever the server says.</summary>
    private int MaxBatchBytes => (int)Math.Clamp((_nats.ServerInfo?.MaxPayload ?? 1_048_576) / 4, 1024, 256 * 1024);

    /// <summary>Sends <paramref name="node"/> again what it has not acknowledged, from the oldest, in order.</summary>
    private void Resend(RemoteNode node)
    {
        var count = node.Out.Rewind(_core.TimeProvider.GetTimestamp());
        if (count == 0)
            return;
        Interlocked.Add(ref _forwardResent, count);
        if (_core.ShouldLog(2417, nameof(LogResent), node.Name))
            LogResent(_logger, count, node.Name);
        Wake(node);
    }

    /// <summary>Acknowledgements from the nodes this node forwards to: what they have is forgotten; a gap is sent again at once.</summary>
    private async Task ReceiveAcksAsync(CancellationToken cancel)
    {
        await foreach (var msg in _nats.SubscribeAsync<byte[]>(_subjects.Ack(_token), cancellationToken: cancel).ConfigureAwait(false))
        {
            if (msg.Data is not { } data || !ForwardAck.TryDecode(data, out var ack) || ack.SenderBoot != _boot)
                continue;
            RemoteNode? node;
            lock (_members)
                _members.TryGetValue(ack.ReceiverToken, out node);
            if (node is null)
                continue;
            var now = _core.TimeProvider.GetTimestamp();
            // Share groups it had no member of any more: to another node with members.
            var returned = ack.Unserved is null ? null : new List<ReturnedForward>();
            node.Out.Acknowledge(ack.Acked, ack.Received, now, ack.Unserved, returned);
            if (returned is not null)
                Redispatch(returned, node.Name);
            if (ack.Gap && node.Out.Count > 0 && Elapsed(node.Out.LastResend, now) >= GapResendInterval)
                Resend(node);
        }
    }

    /// <summary>
    /// From the tick: sends again what a running node has not acknowledged for a while (a lost tail shows no gap to
    /// it), and stops holding publishers for forwards it has not acknowledged within cluster.node_timeout.
    /// </summary>
    private void ResendStalled()
    {
        var now = _core.TimeProvider.GetTimestamp();
        var after = (long)(_options.HeartbeatInterval.TotalSeconds * 2 * _core.TimeProvider.TimestampFrequency);
        var timeout = (long)(_options.NodeTimeout.TotalSeconds * _core.TimeProvider.TimestampFrequency);
        List<RemoteNode>? stalled = null;
        lock (_members)
        {
            foreach (var node in _members.Values)
            {
                if (node.IsUp && node.Out.Count > 0)
                    (stalled ??= []).Add(node);
            }
        }
        foreach (var node in stalled ?? [])
        {
            if (node.Out.IsStalled(now, after))
                Resend(node);
            var released = node.Out.ReleaseOlderThan(now - timeout);
            if (released > 0)
            {
                Interlocked.Add(ref _forwardReleased, released);
                if (_core.ShouldLog(2418, nameof(LogAckTimeout), node.Name))
                    LogAckTimeout(_logger, released, node.Name, _options.NodeTimeout.TotalMilliseconds);
            }
        }
    }

    private TimeSpan Elapsed(long from, long to) => TimeSpan.FromSeconds((to - from) / (double)_core.TimeProvider.TimestampFrequency);

    /// <summary>At most this often a gap makes a sender send again (more would only repeat what is on its way).</summary>
    private static readonly TimeSpan GapResendInterval = TimeSpan.FromMilliseconds(100);


    /// <summary>How far this node has the numbered forwards of one sender (one boot of it).</summary>
    private sealed class Inbound(string boot, long expected)
    {
        public string Boot { get; } = boot;

        /// <summary>The next number to deliver; everything before it is in this node's sessions.</summary>
        public long Expected = expected;

        /// <summary>
        /// A delivered forward whose acknowledgement is held back (0 for none) until the subscriber it left behind
        /// catches up: what its publisher would wait for on this node. Later forwards are delivered meanwhile, so one
        /// subscriber behind here holds up no other; they are said to be received, the acknowledgement stops before this
        /// one, so its publisher waits (and the sender's, past its high mark of unacknowledged forwards).
        /// </summary>
        public long Holding;

        /// <summary>Everything before this number is as durable as a PUBLISH before its PUBACK (see <see cref="IClusterPort.DurableAsync"/>).</summary>
        public long Durable = expected;

        /// <summary>What <see cref="Durable"/> becomes when the commit under way completes.</summary>
        public long Committing = expected;

        /// <summary>The acknowledgement: everything up to it is durable here, and not held back.</summary>
        public long Acked => Math.Min(Holding != 0 ? Holding : Expected, Durable) - 1;

        /// <summary>Everything up to it is durable here (received: not to be sent again).</summary>
        public long Received => Durable - 1;

        /// <summary>
        /// Delivered forwards whose share groups had no member here (<see cref="ForwardAck.Unserved"/>): said in every
        /// acknowledgement until the sender's batches show it no longer holds them (an acknowledgement may be lost).
        /// Null while there are none, which is always, in a cluster without share groups.
        /// </summary>
        public List<ForwardAck.Unserved>? Unserved;
        public long AckedSent;
        public long ReceivedSent;
        public long LastAckAt;
        public long LastGapAt;
    }

    private enum Admission
    {
        Deliver,
        Duplicate,
        Gap,
    }

    /// <summary>
    /// Whether forward <paramref name="sequence"/> of a batch is the next one from its sender (to deliver), one already
    /// delivered (a resend: dropped), or later than the next (dropped, with the rest of its batch: the sender sends again
    /// from the next, in order, so that one publisher's messages stay in order). A gap is answered at once (at most
    /// every <see cref="GapResendInterval"/>): <paramref name="ack"/>.
    /// </summary>
    /// <param name="header">The batch's header.</param>
    /// <param name="sequence">The forward's number.</param>
    /// <param name="holding">Whether an acknowledgement of this sender's is held back (<see cref="Inbound.Holding"/>).</param>
    /// <param name="ack">An acknowledgement to send now, saying there is a gap; null for none.</param>
    private Admission Admit(ForwardBatch.Header header, long sequence, out bool holding, out (string Token, string Boot, long Acked, long Received, List<ForwardAck.Unserved>? Unserved)? ack)
    {
        ack = null;
        holding = false;
        lock (_inbound)
        {
            if (!_inbound.TryGetValue(header.SenderToken, out var from) || from.Boot != header.SenderBoot)
            {
                from = new Inbound(header.SenderBoot, header.OldestHeld);
                _inbound[header.SenderToken] = from;
            }
            if (from.Expected < header.OldestHeld)
                from.Expected = from.Durable = header.OldestHeld; // the sender gave those up (it found this node down)
            if (from.Holding != 0 && from.Holding < header.OldestHeld)
                from.Holding = 0; // the sender no longer waits for it
            holding = from.Holding != 0;
            if (from.Unserved is { } told)
            {
                // What the sender no longer holds it has heard of.
                told.RemoveAll(u => u.Sequence < header.OldestHeld);
                if (told.Count == 0)
                    from.Unserved = null;
            }
            if (sequence < from.Expected)
            {
                from.ReceivedSent = 0; // sent again: the acknowledgement may have been lost; the next flush repeats it
                return Admission.Duplicate;
            }
            if (sequence == from.Expected)
                return Admission.Deliver;
            var now = _core.TimeProvider.GetTimestamp();
            if (Elapsed(from.LastGapAt, now) >= GapResendInterval)
            {
                from.LastGapAt = now;
                ack = (header.SenderToken, from.Boot, from.Acked, from.Received, from.Unserved?.ToList());
            }
            return Admission.Gap;
        }
    }

    /// <summary>
    /// Forward <paramref name="sequence"/> is in this node's sessions: the next acknowledgement covers it, unless it left
    /// a subscriber behind (<paramref name="caughtUp"/>): then its acknowledgement is held back until that completes.
    /// </summary>
    /// <param name="header">The batch's header.</param>
    /// <param name="sequence">The forward's number.</param>
    /// <param name="unserved">The share groups it named that had no member here; null for none.</param>
    /// <param name="caughtUp">Completes when the subscriber it left more than half full has caught up; null for none.</param>
    private void Delivered(ForwardBatch.Header header, long sequence, (string Group, string Filter)[]? unserved = null, Task? caughtUp = null)
    {
        lock (_inbound)
        {
            if (!_inbound.TryGetValue(header.SenderToken, out var from) || from.Boot != header.SenderBoot || from.Expected != sequence)
                return;
            from.Expected = sequence + 1;
            if (caughtUp is not null && from.Holding == 0)
            {
                from.Holding = sequence;
                _ = ReleaseHoldAsync(from, sequence, caughtUp);
            }
            if (unserved is null)
                return;
            var told = from.Unserved ??= [];
            if (told.Count >= MaxUnservedHeld)
                told.RemoveAt(0); // a sender that sends nothing more for this long has heard of it already
            told.Add(new ForwardAck.Unserved(sequence, unserved));
        }
    }

    /// <summary>The subscriber forward <paramref name="sequence"/> left behind has caught up: it is acknowledged (with what came after it).</summary>
    private async Task ReleaseHoldAsync(Inbound from, long sequence, Task caughtUp)
    {
        await caughtUp.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        lock (_inbound)
        {
            if (from.Holding != sequence)
                return;
            from.Holding = 0;
        }
        await FlushAcksAsync(_stop.Token).ConfigureAwait(false);
    }

    /// <summary>What is delivered now becomes durable with the commit about to start (<see cref="Inbound.Committing"/>).</summary>
    private void BeginCommit()
    {
        lock (_inbound)
        {
            foreach (var from in _inbound.Values)
                from.Committing = from.Expected;
        }
    }

    /// <summary>The commit <see cref="BeginCommit"/> began is done: what it covered may be acknowledged.</summary>
    private void EndCommit()
    {
        lock (_inbound)
        {
            foreach (var from in _inbound.Values)
                from.Durable = Math.Max(from.Durable, from.Committing);
        }
    }

    /// <summary>Unserved forwards one sender is told of, at most (see <see cref="Inbound.Unserved"/>).</summary>
    private const int MaxUnservedHeld = 1024;

    /// <summary>
    /// Acknowledges what was delivered since the last acknowledgement, for every sender: after each group of batches
    /// the forwarding subscription held, and from the tick (an acknowledgement lost in NATS is repeated there).
    /// </summary>
    private async Task FlushAcksAsync(CancellationToken cancel)
    {
        List<(string Token, string Boot, long Acked, long Received, List<ForwardAck.Unserved>? Unserved)>? due = null;
        var now = _core.TimeProvider.GetTimestamp();
        lock (_inbound)
        {
            foreach (var (token, from) in _inbound)
            {
                if (from.Acked <= from.AckedSent && from.Received <= from.ReceivedSent)
                    continue;
                from.AckedSent = from.Acked;
                from.ReceivedSent = from.Received;
                from.LastAckAt = now;
                (due ??= []).Add((token, from.Boot, from.AckedSent, from.ReceivedSent, from.Unserved?.ToList()));
            }
        }
        try
        {
            foreach (var (token, boot, acked, received, unserved) in due ?? [])
                await SendAckAsync(token, boot, acked, received, gap: false, unserved, cancel).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private async Task SendAckAsync(string senderToken, string senderBoot, long acked, long received, bool gap, List<ForwardAck.Unserved>? unserved, CancellationToken cancel)
    {
        try
        {
            await _nats.PublishAsync(_subjects.Ack(senderToken), ForwardAck.Encode(_token, senderBoot, acked, received, gap, unserved), cancellationToken: cancel).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException)
        {
            // The next one says as much.
        }
    }

    /// <summary>Batches of forwards drained per acknowledgement, at most (bounds how long a sender waits for one under load).</summary>
    private const int BatchesPerAck = 32;

    /// <summary>
    /// Delivers the forwards from the other nodes, one batch at a time, in arrival order (so a publisher's messages
    /// reach each subscriber in order), and acknowledges them once they are in this node's sessions, and on disk when
    /// <c>persistence.sync = sync</c>: each time the subscription has nothing more waiting, or after
    /// <see cref="BatchesPerAck"/> batches. The senders' PUBACKs wait for these acknowledgements. A forward that leaves a
    /// subscriber here more than half full is not waited for: its acknowledgement is held back (<see cref="Inbound.Holding"/>).
    /// </summary>
    private async Task ReceiveForwardsAsync(CancellationToken cancel)
    {
        await using var sub = await _nats.SubscribeCoreAsync<byte[]>(_subjects.Forward(_token), cancellationToken: cancel).ConfigureAwait(false);
        var reader = sub.Msgs;
        while (await reader.WaitToReadAsync(cancel).ConfigureAwait(false))
        {
            for (var i = 0; i < BatchesPerAck && reader.TryRead(out var msg); i++)
                await ReceiveBatchAsync(msg, cancel).ConfigureAwait(false);
            BeginCommit();
            var durable = _core.DurableAsync();
            await durable.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (durable.IsCompletedSuccessfully)
                EndCommit();
            await FlushAcksAsync(cancel).ConfigureAwait(false);
        }
    }

    private async Task ReceiveBatchAsync(NatsMsg<byte[]> msg, CancellationToken cancel)
    {
        if (msg.Data is not { } data)
            return;
        ForwardBatch.Header header;
        int offset;
        try
        {
            header = ForwardBatch.ReadHeader(data, out offset);
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException)
        {
            LogBadForward(_logger, msg.Subject, ex.Message);
            return;
        }
        for (var i = 0; i < header.Count; i++)
        {
            var sequence = header.FirstSequence + i;
            ArraySegment<byte> bytes;
            try
            {
                bytes = ForwardBatch.Next(data, ref offset);
            }
            catch (EndOfStreamException ex)
            {
                LogBadForward(_logger, msg.Subject, ex.Message);
                return; // what is missing is sent again
            }
            var admission = Admit(header, sequence, out var holding, out var ack);
            if (ack is { } a)
                await SendAckAsync(a.Token, a.Boot, a.Acked, a.Received, gap: true, a.Unserved, cancel).ConfigureAwait(false);
            if (admission == Admission.Gap)
                return; // the rest of the batch is later still
            if (admission == Admission.Duplicate)
                continue;
            BrokerMessage message;
            DeliveryScope scope;
            try
            {
                message = ForwardCodec.Decode(bytes, out scope);
            }
            catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException)
            {
                // Sending it again would not make it readable: passed over, so the ones after it are not held up.
                LogBadForward(_logger, msg.Subject, ex.Message);
                Delivered(header, sequence);
                continue;
            }
            Interlocked.Increment(ref _forwardedIn);
            // A share group this node was chosen for but has no member of any more (its last left while the message was
            // on its way) is not served here: the acknowledgement says so, and the sender chooses another node for it.
            // A subscriber it leaves behind is not waited for here (that would hold up every forward from every node):
            // its acknowledgement is held back instead, one per sender at a time.
            Task? caughtUp = null;
            try
            {
                caughtUp = await _core.DeliverForwardedAsync(message, scope, waitIfBehind: !holding).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogBadForward(_logger, msg.Subject, ex.Message);
            }
            Delivered(header, sequence, scope.Unserved, caughtUp);
        }
    }

    private async Task ServeSnapshotsAsync(CancellationToken cancel)
    {
        await foreach (var msg in _nats.SubscribeAsync<byte[]>(_subjects.Snapshot(_subjects.Token(NodeName)), cancellationToken: cancel).ConfigureAwait(false))
        {
            byte[] reply;
            lock (_routesLock)
                reply = RouteSnapshot.Encode(_boot, _routeVersion, _localRoutes);
            try
            {
                await LargeReply.ReplyAsync(_nats, msg, reply, cancel).ConfigureAwait(false);
            }
            catch (NatsException)
            {
            }
        }
    }

    private async Task ReceiveControlAsync(CancellationToken cancel)
    {
        await foreach (var msg in _nats.SubscribeAsync<byte[]>(_subjects.Node("*"), cancellationToken: cancel).ConfigureAwait(false))
        {
            if (msg.Data is not { } data || !ControlMessage.TryDecode(data, out var decoded))
                continue;
            var token = msg.Subject[(msg.Subject.LastIndexOf('.') + 1)..];
            HandleControl(token, decoded);
        }
    }

    private async Task TickAsync(CancellationToken cancel)
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval, _core.TimeProvider);
        while (await timer.WaitForNextTickAsync(cancel).ConfigureAwait(false))
        {
            if (NatsConnected)
                EnqueueHeartbeat();
            ExpireSilentNodes();
            ResendStalled();
            // Not awaited: a publish waits while NATS reconnects, and this tick must go on finding silent nodes down.
            if (NatsConnected)
                _ = FlushAcksAsync(cancel);
            if (NatsConnected && UnclaimedCount > 0)
                _ = ReconcileAsync();
        }
    }
}
