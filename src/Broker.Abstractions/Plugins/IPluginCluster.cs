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
    /// One NATS message: keep it under NATS' <c>max_payload</c> (1 MB by default), or broadcast that something changed
    /// and let the nodes ask with <see cref="RequestAsync"/>, whose answers may be any size.
    /// </summary>
    void Broadcast(ReadOnlyMemory<byte> message);

    /// <summary>
    /// Asks this plugin on <paramref name="node"/> and returns what its <see cref="IPluginClusterListener.OnRequestAsync"/>
    /// answered. The answer may be larger than NATS' <c>max_payload</c>: it travels in parts, joined here.
    /// </summary>
    /// <exception cref="PluginClusterException">The node is not running, has no listener of this plugin, its listener
    /// failed, or no answer came within <paramref name="timeout"/>.</exception>
    Task<byte[]> RequestAsync(string node, ReadOnlyMemory<byte> request, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>
    /// Receives what this plugin on the other nodes sends, and the nodes coming up. One listener per plugin instance;
    /// disposing the result removes it, and so does the plugin's stop.
    /// </summary>
    IDisposable Listen(IPluginClusterListener listener);

    /// <summary>
    /// Opens this plugin's replicated key-value store <paramref name="name"/>, creating it on first use: a NATS
    /// JetStream key-value bucket <c>&lt;cluster.name&gt;-plg-&lt;plugin&gt;-&lt;name&gt;</c> with
    /// <c>cluster.owner_replicas</c> copies, for state that must outlive the node that wrote it (a node's memory and disk
    /// go with it; the store does not). Every node of the cluster sees the same store. Each operation goes to the cluster
    /// this node is in at that moment, so a store stays usable across <c>ctl cluster leave</c> and <c>join</c> (its
    /// operations fail while this node is in none). Since SDK 2.1; the default implementation, for test doubles, throws.
    /// </summary>
    /// <param name="name">Letters, digits, '-' and '_'.</param>
    /// <param name="cancellationToken">Gives up waiting for NATS.</param>
    /// <exception cref="PluginClusterException">The broker is not clustered (<c>cluster.enable = off</c>).</exception>
    Task<IPluginClusterStore> OpenStoreAsync(string name, CancellationToken cancellationToken) =>
        Task.FromException<IPluginClusterStore>(new PluginClusterException("this cluster has no replicated stores"));
}

/// <summary>
/// A plugin's key-value store replicated by the cluster (<see cref="IPluginCluster.OpenStoreAsync"/>). Keys are
/// letters, digits and <c>- _ = . /</c>; each write of a key gets a revision, increasing over the whole store, which a
/// compare-and-delete names so that of several nodes deleting one entry exactly one succeeds. Every method throws
/// <see cref="PluginClusterException"/> when NATS or JetStream does not answer (a network split, this node out of the
/// cluster): the change may or may not have been made.
/// </summary>
public interface IPluginClusterStore
{
    /// <summary>Writes <paramref name="value"/> under <paramref name="key"/> (replacing what was there); returns its revision.</summary>
    Task<ulong> PutAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes <paramref name="key"/> if its last write is still <paramref name="revision"/>: true if this call deleted
    /// it, false if another write or delete came first (so it is someone else's to act on).
    /// </summary>
    Task<bool> DeleteAsync(string key, ulong revision, CancellationToken cancellationToken);

    /// <summary>
    /// Every entry the store holds now, then every change as it is made (deletions as entries with
    /// <see cref="PluginStoreEntry.Deleted"/>), until <paramref name="cancellationToken"/> fires. Ends with
    /// <see cref="PluginClusterException"/> when the cluster connection goes (a leave); watch again to start over.
    /// </summary>
    IAsyncEnumerable<PluginStoreEntry> WatchAsync(CancellationToken cancellationToken);
}

/// <summary>One entry of a <see cref="IPluginClusterStore"/>, or its deletion.</summary>
/// <param name="Key">The key.</param>
/// <param name="Value">The value; empty for a deletion.</param>
/// <param name="Revision">The revision of this write (or deletion).</param>
/// <param name="Deleted">Whether this is the key's deletion.</param>
public sealed record PluginStoreEntry(string Key, ReadOnlyMemory<byte> Value, ulong Revision, bool Deleted);

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
