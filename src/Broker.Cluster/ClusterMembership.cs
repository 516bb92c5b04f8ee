using Broker.Abstractions.Plugins;
using Broker.Core.Hosting;
using Broker.Core.Cluster;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace Broker.Cluster;

/// <summary>Why a join, leave or force-leave was refused.</summary>
internal enum MembershipError
{
    None,

    /// <summary>A bad argument (a URL that is not nats://host:port, force-leave of this node).</summary>
    BadRequest,

    /// <summary>No such node in this cluster.</summary>
    NotFound,

    /// <summary>Not possible in this state (join when already joined there, leave when not in a cluster).</summary>
    Conflict,

    /// <summary>The NATS server to join cannot be reached.</summary>
    Unreachable,
}

/// <summary>The outcome of a membership change: done, or refused with the reason.</summary>
internal readonly record struct MembershipResult(MembershipError Error, string Message);

/// <summary>
/// This node's seat in a cluster, which <c>ctl cluster join</c> / <c>leave</c> change at run time (EMQX 4's
/// <c>emqx_ctl cluster join|leave|force-leave</c>): it owns the current <see cref="ClusterNode"/> (null while this
/// node is alone) and <c>data/cluster.state</c> (<see cref="ClusterState"/>). Changes are serialised.
/// </summary>
internal sealed partial class ClusterMembership : IAsyncDisposable, IPluginMessaging
{
    private readonly PluginListeners _pluginListeners = new();
    private readonly ClusterOptions _options;
    private readonly string _nodeName;
    private readonly IClusterPort _core;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly Func<string, string> _resolvePath;
    private readonly string _dataDirectory;
    private readonly SemaphoreSlim _changing = new(1, 1);
    private ClusterNode? _node;
    private bool _disposed;

    /// <param name="options">cluster.* as broker.conf and <paramref name="state"/> decided them.</param>
    /// <param name="state">data/cluster.state as read at start, or null.</param>
    public ClusterMembership(ClusterOptions options, ClusterState? state, string nodeName, IClusterPort core, ILoggerFactory loggerFactory,
        Func<string, string> resolvePath, string dataDirectory)
    {
        _options = options;
        State = state;
        _nodeName = nodeName;
        _core = core;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("Broker.Cluster");
        _resolvePath = resolvePath;
        _dataDirectory = dataDirectory;
    }

    /// <summary>Answers the other nodes' questions on this node (see <see cref="ClusterNode.QueryHandler"/>); set before <see cref="Start"/>.</summary>
    public Func<byte[], CancellationToken, Task<byte[]>>? QueryHandler { get; set; }

    /// <summary>The cluster as this node is in it now; null while it is alone (cluster off, or left).</summary>
    public ClusterNode? Node => Volatile.Read(ref _node);

    /// <summary>data/cluster.state as last read or written; null when broker.conf alone decides.</summary>
    public ClusterState? State { get; private set; }

    /// <summary>joined, left (by ctl cluster leave or force-leave; data/cluster.state) or off (cluster.enable = off).</summary>
    public string Membership => Node is not null ? "joined" : State is { Joined: false } ? "left" : "off";

    /// <summary>Joins as broker.conf (and data/cluster.state) say, if they say so. Before the listeners open.</summary>
    public void Start()
    {
        if (State is { } state)
            LogStateOverride(_logger, Path.Combine(_dataDirectory, ClusterState.FileName), state.Joined ? "joined " + ClusterOptions.Redact(state.Servers) : "left", state.Changed, state.By);
        if (_options.Enable)
            StartNode(_options);
    }

    /// <summary>
    /// EMQX's <c>cluster join</c>: connects to the NATS at <paramref name="servers"/> and joins the cluster there
    /// (cluster.name and NATS credentials stay as broker.conf has them), leaving the cluster this node was in, if any
    /// and another; kept across restarts in data/cluster.state.
    /// </summary>
    public async Task<MembershipResult> JoinAsync(string servers, CancellationToken cancel)
    {
        servers = string.Join(',', servers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        if (_nodeName == CoreSettings.DefaultNodeName)
        {
            return new(MembershipError.BadRequest,
                $"node.name is '{CoreSettings.DefaultNodeName}', the single-node default: give this node a unique node.name in etc/broker.conf and restart it before it joins");
        }
        var options = _options.With(enable: true, servers);
        var problems = options.Validate().Where(p => p.Key == "cluster.nats.servers").Select(p => p.Error).ToList();
        if (servers.Length == 0 || problems.Count > 0)
            return new(MembershipError.BadRequest, problems.Count > 0 ? string.Join("; ", problems) : "give the NATS URL to join, e.g. nats://10.0.0.1:4222");
        await _changing.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            if (_disposed)
                return new(MembershipError.Conflict, "the broker is stopping");
            if (Node is { } current && SameServers(current.Servers, options.ServerList))
                return new(MembershipError.Conflict, $"already in cluster {current.ClusterName} over {ClusterOptions.Redact(current.Servers)}");
            // EMQX refuses to join a node it cannot reach; so does this, before leaving anything.
            if (await ClusterNode.ProbeAsync(options, _nodeName, _resolvePath, cancel).ConfigureAwait(false) is { } unreachable)
                return new(MembershipError.Unreachable, $"cannot reach NATS at {ClusterOptions.Redact(servers)}: {unreachable}");
            cancel.ThrowIfCancellationRequested();
            var left = await StopNodeAsync().ConfigureAwait(false);
            StartNode(options);
            Save(ClusterState.Now(joined: true, servers, "ctl cluster join", _core.TimeProvider));
            return new(MembershipError.None, (left is null ? "" : $"left cluster {left}; ") + $"joined cluster {options.Name} over {ClusterOptions.Redact(servers)}");
        }
        finally
        {
            _changing.Release();
        }
    }

    /// <summary>EMQX's <c>cluster leave</c>: tells the others, disconnects from NATS and serves this node's clients alone, across restarts until a join.</summary>
    public Task<MembershipResult> LeaveAsync(CancellationToken cancel) => LeaveAsync("ctl cluster leave", null, cancel);

    /// <summary>
    /// EMQX's <c>cluster force-leave</c>: removes <paramref name="node"/>, down or running, from the cluster; its routes
    /// are withdrawn on every node, and it leaves if it runs.
    /// </summary>
    public MembershipResult ForceLeave(string node)
    {
        if (Node is not { } current)
            return new(MembershipError.Conflict, "this node is not in a cluster");
        if (node == _nodeName)
            return new(MembershipError.BadRequest, "this is the node answering: use leave (ctl cluster leave) to take it out");
        return current.ForceLeave(node)
            ? new(MembershipError.None, $"node {node} removed from cluster {current.ClusterName}")
            : new(MembershipError.NotFound, $"no node '{node}' in cluster {current.ClusterName}");
    }

    /// <inheritdoc/>
    public bool Enabled => Node is not null;

    /// <inheritdoc/>
    public IReadOnlyList<string> RunningNodes() => Node?.RunningNodes() ?? [];

    /// <inheritdoc/>
    public void Broadcast(string plugin, ReadOnlyMemory<byte> message) => Node?.Broadcast(plugin, message);

    /// <inheritdoc/>
    public Task<byte[]> RequestAsync(string plugin, string node, ReadOnlyMemory<byte> request, TimeSpan timeout, CancellationToken cancellationToken) =>
        Node is { } current
            ? current.RequestAsync(plugin, node, request, timeout, cancellationToken)
            : Task.FromException<byte[]>(new PluginClusterException($"node {node} is not running: this node is in no cluster"));

    /// <inheritdoc/>
    public IDisposable Listen(string plugin, IPluginClusterListener listener) => _pluginListeners.Listen(plugin, listener);

    /// <inheritdoc/>
    public Task<IPluginClusterStore> OpenStoreAsync(string plugin, string name, CancellationToken cancellationToken) =>
        PluginStore.NamePattern().IsMatch(name)
            ? Task.FromResult<IPluginClusterStore>(new PluginStore(this, _options.Name + "-plg-" + plugin + "-" + name))
            : Task.FromException<IPluginClusterStore>(new ArgumentException($"'{name}' is not a store name: letters, digits, '-' and '_'", nameof(name)));

    public async ValueTask DisposeAsync()
    {
        await _changing.WaitAsync().ConfigureAwait(false);
        try
        {
            _disposed = true;
            if (Node is { } node)
                await node.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _changing.Release();
        }
    }

    private async Task<MembershipResult> LeaveAsync(string by, ClusterNode? only, CancellationToken cancel)
    {
        await _changing.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            if (_disposed)
                return new(MembershipError.Conflict, "the broker is stopping");
            if (Node is not { } current || (only is not null && current != only))
                return new(MembershipError.Conflict, "this node is not in a cluster");
            var left = await StopNodeAsync().ConfigureAwait(false);
            Save(ClusterState.Now(joined: false, "", by, _core.TimeProvider));
            LogLeft(_logger, left!, by);
            return new(MembershipError.None, $"left cluster {left}; serving this node's clients alone");
        }
        finally
        {
            _changing.Release();
        }
    }

    private void StartNode(ClusterOptions options)
    {
        ClusterNode? node = null;
        node = new ClusterNode(options, _nodeName, _core, _loggerFactory, _resolvePath)
        {
            QueryHandler = QueryHandler,
            PluginListeners = _pluginListeners,
            ForcedToLeave = by => _ = ForcedLeaveAsync(node!, by),
        };
        Volatile.Write(ref _node, node);
        node.Start();
    }

    /// <summary>Another node force-left <paramref name="node"/>: it leaves, unless this node has left or joined elsewhere since.</summary>
    private async Task ForcedLeaveAsync(ClusterNode node, string by)
    {
        // Not on the NATS thread that heard it: leaving stops that very loop.
        await Task.Yield();
        await LeaveAsync($"force-leave on node {by}", node, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Says goodbye to the current cluster and detaches from the engine; returns its name, or null if there was none.</summary>
    private async Task<string?> StopNodeAsync()
    {
        if (Node is not { } node)
            return null;
        _core.Detach();
        Volatile.Write(ref _node, null);
        await node.LeaveAsync().ConfigureAwait(false);
        return node.ClusterName;
    }

    private void Save(ClusterState state)
    {
        state.Write(_dataDirectory);
        State = state;
    }

    private static bool SameServers(string a, IReadOnlyList<string> b) =>
        a.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).SequenceEqual(b, StringComparer.OrdinalIgnoreCase);

    [LoggerMessage(EventId = 2420, Level = LogLevel.Warning, Message = "Cluster: {File} says {State} ({By}, {Changed}): it overrides cluster.enable and cluster.nats.servers of broker.conf; delete it to go back to broker.conf")]
    private static partial void LogStateOverride(ILogger logger, string file, string state, string changed, string by);

    [LoggerMessage(EventId = 2421, Level = LogLevel.Warning, Message = "Cluster: this node left cluster {Cluster} ({By}); serving its own clients alone, across restarts, until ctl cluster join")]
    private static partial void LogLeft(ILogger logger, string cluster, string by);
}
