using Broker.Abstractions.Plugins;

namespace Broker.Core.Cluster;

/// <summary>
/// The cluster's channel between the copies of one plugin on different nodes (Broker.Cluster implements it; what a
/// plugin sees as <see cref="IPluginCluster"/>). Set on the engine before the plugins start; it outlives joins and leaves, so what plugins listen with stays.
/// </summary>
public interface IPluginMessaging
{
    /// <summary>Whether this node is in a cluster now (it may join and leave at run time).</summary>
    bool Enabled { get; }

    /// <summary>The other nodes running now.</summary>
    IReadOnlyList<string> RunningNodes();

    /// <summary>Queues <paramref name="message"/> for <paramref name="plugin"/> on every other node; never blocks.</summary>
    void Broadcast(string plugin, ReadOnlyMemory<byte> message);

    /// <summary>Asks <paramref name="plugin"/> on <paramref name="node"/>; throws <see cref="PluginClusterException"/>.</summary>
    Task<byte[]> RequestAsync(string plugin, string node, ReadOnlyMemory<byte> request, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Hands what <paramref name="plugin"/> receives to <paramref name="listener"/> until disposed (one per plugin: a later one replaces it).</summary>
    IDisposable Listen(string plugin, IPluginClusterListener listener);

    /// <summary>Opens <paramref name="plugin"/>'s replicated store <paramref name="name"/> (<see cref="IPluginCluster.OpenStoreAsync"/>).</summary>
    Task<IPluginClusterStore> OpenStoreAsync(string plugin, string name, CancellationToken cancellationToken);
}
