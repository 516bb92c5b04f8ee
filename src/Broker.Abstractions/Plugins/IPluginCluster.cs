namespace Broker.Abstractions.Plugins;

/// <summary>
/// The cluster as one plugin sees it (<see cref="IPluginContext.Cluster"/>, since SDK 2.1): which node this is, which
/// others run, and a channel to the same plugin on the other nodes, for state a plugin keeps per node and wants the
/// same everywhere (retained messages, a user database). Messages travel over the cluster's NATS connection on subjects
/// of this plugin's own; a plugin sees only what its own copies send. On a single broker (<c>cluster.enable = off</c>)
/// <see cref="Enabled"/> is false, no other node ever runs, and sending reaches nobody.
/// </summary>
public interface IPluginCluster
{
    /// <summary>Whether the broker is a node of a cluster (<c>cluster.enable = on</c>).</summary>
    bool Enabled { get; }

    /// <summary>This node's name (<c>node.name</c>).</summary>
    string NodeName { get; }

    /// <summary>The other nodes running now (heard within <c>cluster.node_timeout</c>), by name.</summary>
    IReadOnlyList<string> RunningNodes();

    /// <summary>
    /// Sends <paramref name="message"/> to this plugin on every other running node: at most once each (a node that is
    /// down or cut off misses it), in the order this node sent them. Does not block; nothing happens on a single node.
    /// </summary>
    void Broadcast(ReadOnlyMemory<byte> message);

    /// <summary>
    /// Asks this plugin on <paramref name="node"/> and returns what its <see cref="IPluginClusterListener.OnRequestAsync"/>
    /// answered.
    /// </summary>
    /// <exception cref="PluginClusterException">The node is not running, has no listener of this plugin, its listener
    /// failed, or no answer came within <paramref name="timeout"/>.</exception>
    Task<byte[]> RequestAsync(string node, ReadOnlyMemory<byte> request, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>
    /// Receives what this plugin on the other nodes sends, and the nodes coming up. One listener per plugin instance;
    /// disposing the result removes it, and so does the plugin's stop.
    /// </summary>
    IDisposable Listen(IPluginClusterListener listener);
}

/// <summary>What a plugin's copies on other nodes send it (<see cref="IPluginCluster.Listen"/>).</summary>
/// <remarks>Called one at a time, in arrival order, on a thread of the cluster link: a slow callback delays the next.</remarks>
public interface IPluginClusterListener
{
    /// <summary>A <see cref="IPluginCluster.Broadcast"/> of this plugin on <paramref name="fromNode"/>.</summary>
    ValueTask OnMessageAsync(string fromNode, ReadOnlyMemory<byte> message, CancellationToken cancellationToken);

    /// <summary>A <see cref="IPluginCluster.RequestAsync"/> of this plugin on <paramref name="fromNode"/>: return the answer.</summary>
    ValueTask<byte[]> OnRequestAsync(string fromNode, ReadOnlyMemory<byte> request, CancellationToken cancellationToken);

    /// <summary>
    /// <paramref name="node"/> has come up (it started, or is heard again after it was down or this node was cut off):
    /// the moment to compare state with it. Must not block.
    /// </summary>
    void OnNodeUp(string node);
}

/// <summary>A request to another node's copy of the plugin failed (<see cref="IPluginCluster.RequestAsync"/>).</summary>
public sealed class PluginClusterException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The cluster of a single broker: no other node, sending reaches nobody.</summary>
internal sealed class SingleNodeCluster(string nodeName) : IPluginCluster
{
    public static readonly SingleNodeCluster Unknown = new("local");

    public bool Enabled => false;

    public string NodeName { get; } = nodeName;

    public IReadOnlyList<string> RunningNodes() => [];

    public void Broadcast(ReadOnlyMemory<byte> message)
    {
    }

    public Task<byte[]> RequestAsync(string node, ReadOnlyMemory<byte> request, TimeSpan timeout, CancellationToken cancellationToken) =>
        Task.FromException<byte[]>(new PluginClusterException($"node {node} is not running: this broker is not clustered"));

    public IDisposable Listen(IPluginClusterListener listener) => NoListener.Instance;

    private sealed class NoListener : IDisposable
    {
        public static readonly NoListener Instance = new();

        public void Dispose()
        {
        }
    }
}
