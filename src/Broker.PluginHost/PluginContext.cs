using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Abstractions.Plugins;
using Broker.Core.Metrics;
using Broker.Core.Plugins;
using Broker.Core.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Broker.PluginHost;

/// <summary>What one plugin instance is given; <see cref="Release"/> takes back what it can still hold of the host.</summary>
internal sealed class PluginContext(
    string name,
    IConfiguration configuration,
    ILoggerFactory loggerFactory,
    IHookRegistry hooks,
    TimeProvider timeProvider,
    string dataDirectory,
    IBrokerServices broker,
    IPluginConfigurationSource configurationSource,
    ClientStates clientStates,
    PluginMetrics metrics,
    InternalSubscriptions subscriptions,
    PluginEndpoints endpoints,
    IBrokerReadModel? readModel) : IPluginContext
{
    private PluginEndpoints.Scope? _http;
    private readonly List<IInternalSubscription> _subscriptions = [];
    private IClientState? _clientState;
    private Meter? _meter;
    private volatile bool _released; // what the plugin asks for after its stop would outlive it: refused
    private readonly CancellationTokenSource _stopping = new();
    private readonly TrackingTimeProvider _time = new(timeProvider);

    public string Name { get; } = name;
    public IConfiguration Configuration { get; } = configuration;
    public ILoggerFactory LoggerFactory { get; } = loggerFactory;
    public IHookRegistry Hooks { get; } = hooks;
    public TimeProvider TimeProvider => _time;
    public string DataDirectory { get; } = dataDirectory;
    public IBrokerServices Broker { get; } = broker;
    public CancellationToken Stopping => _stopping.Token;

    public Meter Meter
    {
        get
        {
            if (Volatile.Read(ref _meter) is { } meter)
                return meter;
            ObjectDisposedException.ThrowIf(_released, this);
            var created = metrics.CreateMeter(Name);
            if (Interlocked.CompareExchange(ref _meter, created, null) is { } raced)
            {
                created.Dispose();
                return raced;
            }
            return created;
        }
    }

    public IBrokerReadModel ReadModel => readModel ?? throw new NotSupportedException("this host has no read model for plugins");

    public IPluginHttp Http
    {
        get
        {
            if (Volatile.Read(ref _http) is { } http)
                return http;
            ObjectDisposedException.ThrowIf(_released, this);
            var created = endpoints.For(Name);
            return Interlocked.CompareExchange(ref _http, created, null) ?? created;
        }
    }

    public IInternalSubscription SubscribeInternal(string topicFilter, Func<BrokerMessage, CancellationToken, ValueTask> handler, int capacity = 10_000)
    {
        lock (_subscriptions)
        {
            ObjectDisposedException.ThrowIf(_released, this);
            var subscription = subscriptions.Add(Name, topicFilter, handler, capacity);
            _subscriptions.Add(subscription);
            return subscription;
        }
    }

    public IClientState ClientState
    {
        get
        {
            if (Volatile.Read(ref _clientState) is { } state)
                return state;
            var created = clientStates.Create();
            if (Interlocked.CompareExchange(ref _clientState, created, null) is { } raced)
            {
                clientStates.Release(created);
                return raced;
            }
            return created;
        }
    }

    public T BindOptions<T>() where T : new()
    {
        var options = new T();
        var errors = configurationSource.Bind(Configuration, options);
        if (errors.Count > 0)
            throw new PluginConfigurationException(string.Join(Environment.NewLine, errors));
        return options;
    }

    public string? OriginOf(string key) => configurationSource.OriginOf(Configuration, key);

    /// <summary>Signals <see cref="Stopping"/>; a callback the plugin registered on it that throws is its own problem.</summary>
    public void SignalStopping()
    {
        try
        {
            _stopping.Cancel();
        }
        catch (AggregateException)
        {
        }
    }

    /// <summary>
    /// Takes back what the plugin holds of the host: its timers (after this, creating one throws), meter, HTTP endpoints
    /// and internal subscriptions (asking for new ones throws too), and per-connection state.
    /// </summary>
    /// <remarks>
    /// The stopping source is cancelled, not disposed: cancelling drops every registration on it (nothing of the
    /// plugin stays reachable), and late plugin code reading <see cref="Stopping"/> gets a cancelled token, not an
    /// ObjectDisposedException.
    /// </remarks>
    public void Release()
    {
        _released = true;
        SignalStopping();
        _time.DisposeAll();
        // The plugin's instruments leave every export with it, its endpoints the API and its subscriptions the router.
        Volatile.Read(ref _meter)?.Dispose();
        Volatile.Read(ref _http)?.Dispose();
        lock (_subscriptions)
        {
            foreach (var subscription in _subscriptions)
                subscription.Dispose();
            _subscriptions.Clear();
        }
        if (Volatile.Read(ref _clientState) is { } state)
            clientStates.Release(state);
    }

    /// <summary>The broker's clock, remembering each timer a plugin makes so the host can dispose the ones it forgot.</summary>
    private sealed class TrackingTimeProvider(TimeProvider inner) : TimeProvider
    {
        private readonly ConcurrentDictionary<TrackedTimer, byte> _timers = new();
        private volatile bool _released;

        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();
        public override long GetTimestamp() => inner.GetTimestamp();
        public override long TimestampFrequency => inner.TimestampFrequency;
        public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            ObjectDisposedException.ThrowIf(_released, this);
            var timer = new TrackedTimer(this, inner.CreateTimer(callback, state, dueTime, period));
            _timers.TryAdd(timer, 0);
            if (_released)
                timer.Dispose();
            return timer;
        }

        public void DisposeAll()
        {
            _released = true;
            foreach (var timer in _timers.Keys)
                timer.Dispose();
        }

        private sealed class TrackedTimer(TrackingTimeProvider owner, ITimer inner) : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => inner.Change(dueTime, period);

            public void Dispose()
            {
                inner.Dispose();
                owner._timers.TryRemove(this, out _);
            }

            public async ValueTask DisposeAsync()
            {
                await inner.DisposeAsync().ConfigureAwait(false);
                owner._timers.TryRemove(this, out _);
            }
        }
    }
}
