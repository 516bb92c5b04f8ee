using System.Diagnostics.Metrics;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Abstractions.Plugins;
using Broker.Core.Hooks;
using Broker.Core.Plugins;
using Broker.Core.Routing;
using Microsoft.Extensions.Logging;

namespace Broker.Core.Hosting;

/// <summary>
/// The core's port for the plugin host (Broker.PluginHost): all the host sees of the core. The clock and logging,
/// what plugins may do to the broker (<see cref="Services"/>), and each plugin instance's share of the core
/// (<see cref="Open"/>). The plugin host has no other way in: it is not granted the core's internals.
/// </summary>
public sealed class PluginSupport
{
    private readonly BrokerEngine _engine;

    internal PluginSupport(BrokerEngine engine)
    {
        _engine = engine;
        Services = new BrokerServices(engine);
    }

    /// <summary>The broker's clock.</summary>
    public TimeProvider TimeProvider => _engine.TimeProvider;

    /// <summary>The broker's logging.</summary>
    public ILoggerFactory LoggerFactory => _engine.LoggerFactory;

    /// <summary>What plugins may do to the broker (<see cref="IPluginContext.Broker"/>); one instance for every plugin.</summary>
    public IBrokerServices Services { get; }

    /// <summary>What one plugin instance may hold of the core, under its own hook owner name.</summary>
    /// <param name="plugin">The plugin's name (its meter, endpoints and internal subscriptions are named after it).</param>
    /// <param name="owner">The instance's hook owner, unique per instance (<c>retainer#2</c>).</param>
    public PluginResources Open(string plugin, string owner) => new(_engine, plugin, owner);
}

/// <summary>
/// One plugin instance's share of the core: its hook registrations, per-connection state, meter, HTTP endpoints and
/// internal subscriptions. <see cref="Release"/> and <see cref="RemoveHooksAsync"/> take all of it back, so nothing of an
/// unloaded plugin stays reachable from the core.
/// </summary>
public sealed class PluginResources
{
    private readonly BrokerEngine _engine;
    private readonly List<IInternalSubscription> _subscriptions = [];
    private PluginEndpoints.Scope? _http;
    private IClientState? _clientState;
    private Meter? _meter;
    private readonly PluginCluster _cluster;
    private volatile bool _released; // what the plugin asks for after its stop would outlive it: refused

    internal PluginResources(BrokerEngine engine, string plugin, string owner)
    {
        _engine = engine;
        Plugin = plugin;
        Owner = owner;
        Hooks = engine.Hooks.ForOwner(owner);
        _cluster = new PluginCluster(engine, plugin);
    }

    /// <summary>The plugin's name.</summary>
    public string Plugin { get; }

    /// <summary>The instance's hook owner name.</summary>
    public string Owner { get; }

    /// <summary>Registers hooks under <see cref="Owner"/>.</summary>
    public IHookRegistry Hooks { get; }

    /// <summary>What the instance's hook callbacks have cost so far.</summary>
    public HookTotals HookTotals => _engine.Hooks.Runner.TotalsOf(Owner);

    /// <summary>The instance's per-connection state, made on first use.</summary>
    public IClientState ClientState
    {
        get
        {
            if (Volatile.Read(ref _clientState) is { } state)
                return state;
            ObjectDisposedException.ThrowIf(_released, this);
            var created = _engine.ClientStates.Create();
            if (Interlocked.CompareExchange(ref _clientState, created, null) is { } raced)
            {
                _engine.ClientStates.Release(created);
                return raced;
            }
            return created;
        }
    }

    /// <summary>The instance's meter, made on first use; refused after <see cref="Release"/>.</summary>
    public Meter Meter
    {
        get
        {
            if (Volatile.Read(ref _meter) is { } meter)
                return meter;
            ObjectDisposedException.ThrowIf(_released, this);
            var created = _engine.PluginMetrics.CreateMeter(Plugin);
            if (Interlocked.CompareExchange(ref _meter, created, null) is { } raced)
            {
                created.Dispose();
                return raced;
            }
            return created;
        }
    }

    /// <summary>The cluster as the instance sees it; its listener is removed by <see cref="Release"/>.</summary>
    public IPluginCluster Cluster => _cluster;

    /// <summary>The instance's HTTP endpoints, made on first use; refused after <see cref="Release"/>.</summary>
    public IPluginHttp Http
    {
        get
        {
            if (Volatile.Read(ref _http) is { } http)
                return http;
            ObjectDisposedException.ThrowIf(_released, this);
            var created = _engine.PluginEndpoints.For(Plugin);
            return Interlocked.CompareExchange(ref _http, created, null) ?? created;
        }
    }

    /// <summary>A subscription without a session (<see cref="IPluginContext.SubscribeInternal"/>); refused after <see cref="Release"/>.</summary>
    /// <param name="topicFilter">The filter.</param>
    /// <param name="handler">Called for each matching message.</param>
    /// <param name="capacity">Messages queued for the handler before more are dropped.</param>
    public IInternalSubscription SubscribeInternal(string topicFilter, Func<BrokerMessage, CancellationToken, ValueTask> handler, int capacity)
    {
        lock (_subscriptions)
        {
            ObjectDisposedException.ThrowIf(_released, this);
            var subscription = _engine.InternalSubscriptions.Add(Plugin, topicFilter, handler, capacity);
            _subscriptions.Add(subscription);
            return subscription;
        }
    }

    /// <summary>
    /// Removes every hook the instance registered and completes when none of its callbacks runs any more (one past its
    /// hook timeout is not waited for further): what the instance closes after this is used by no callback. A run of a
    /// chain that began before never calls them (it goes on with the chain as it is now).
    /// </summary>
    public Task UnhookAsync() => _engine.Hooks.RemoveOwnerAsync(Owner);

    /// <summary>
    /// <see cref="UnhookAsync"/> for good (anything registered since is removed too) and returns what the hooks cost;
    /// the owner name is then forgotten.
    /// </summary>
    public async Task<HookTotals> RemoveHooksAsync()
    {
        await UnhookAsync().ConfigureAwait(false);
        return _engine.Hooks.Runner.Forget(Owner);
    }

    /// <summary>
    /// Takes back the meter (its instruments leave every export), the endpoints (they leave the API), the internal
    /// subscriptions (they leave the router) and the per-connection state; asking for new ones throws from now on.
    /// </summary>
    /// <remarks>
    /// The references go too: a meter's observable instruments and the endpoints' handlers are the plugin's code, and
    /// this object may outlive the unload (the host's bookkeeping), which must not keep the plugin's load context.
    /// </remarks>
    public void Release()
    {
        _released = true;
        Interlocked.Exchange(ref _meter, null)?.Dispose();
        Interlocked.Exchange(ref _http, null)?.Dispose();
        _cluster.Release();
        lock (_subscriptions)
        {
            foreach (var subscription in _subscriptions)
                subscription.Dispose();
            _subscriptions.Clear();
        }
        if (Interlocked.Exchange(ref _clientState, null) is { } state)
            _engine.ClientStates.Release(state);
    }
}
