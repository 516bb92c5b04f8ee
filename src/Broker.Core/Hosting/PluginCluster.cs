using Broker.Abstractions.Plugins;
using Broker.Core.Cluster;

namespace Broker.Core.Hosting;

/// <summary>
/// <see cref="IPluginCluster"/> of one plugin instance: the engine's <see cref="IPluginMessaging"/> under the plugin's
/// name (a single node while it is in no cluster). Its listener goes with the instance (<see cref="Release"/>).
/// </summary>
internal sealed class PluginCluster(BrokerEngine engine, string plugin) : IPluginCluster
{
    private readonly Lock _lock = new();
    private IDisposable? _listening;
    private bool _released;

    public bool Enabled => engine.PluginMessaging?.Enabled == true;

    public string NodeName => engine.BrokerOptions.NodeName;

    public IReadOnlyList<string> RunningNodes() => engine.PluginMessaging?.RunningNodes() ?? [];

    public void Broadcast(ReadOnlyMemory<byte> message)
    {
        if (!_released)
            engine.PluginMessaging?.Broadcast(plugin, message);
    }

    public Task<byte[]> RequestAsync(string node, ReadOnlyMemory<byte> request, TimeSpan timeout, CancellationToken cancellationToken) =>
        engine.PluginMessaging is { } messaging
            ? messaging.RequestAsync(plugin, node, request, timeout, cancellationToken)
            : new SingleNodeCluster(NodeName).RequestAsync(node, request, timeout, cancellationToken);

    public Task<IPluginClusterStore> OpenStoreAsync(string name, CancellationToken cancellationToken) =>
        engine.PluginMessaging is { } messaging
            ? messaging.OpenStoreAsync(plugin, name, cancellationToken)
            : Task.FromException<IPluginClusterStore>(new PluginClusterException("this broker is not clustered (cluster.enable = off)"));

    public IDisposable Listen(IPluginClusterListener listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_released, this);
            _listening?.Dispose();
            _listening = engine.PluginMessaging?.Listen(plugin, listener) ?? new Listening();
            return _listening;
        }
    }

    /// <summary>The instance has stopped: its listener is removed and it sends nothing more.</summary>
    public void Release()
    {
        lock (_lock)
        {
            _released = true;
            _listening?.Dispose();
            _listening = null;
        }
    }

    private sealed class Listening : IDisposable
    {
        public void Dispose()
        {
        }
    }
}
