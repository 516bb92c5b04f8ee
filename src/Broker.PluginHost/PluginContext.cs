using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Abstractions.Plugins;
using Broker.Core.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Broker.PluginHost;

/// <summary>
/// What one plugin instance is given: its share of the core (<see cref="PluginResources"/>) and the host's own parts
/// (configuration, a clock that tracks its timers, the stopping signal); <see cref="Release"/> takes back what it can
/// still hold of the host.
/// </summary>
internal sealed class PluginContext(
    string name,
    IConfiguration configuration,
    ILoggerFactory loggerFactory,
    PluginResources core,
    TimeProvider timeProvider,
    string dataDirectory,
    IBrokerServices broker,
    IPluginConfigurationSource configurationSource,
    IBrokerReadModel? readModel,
    Func<HttpClient>? managementClientFactory = null) : IPluginContext
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly TrackingTimeProvider _time = new(timeProvider);

    public string Name { get; } = name;
    public IConfiguration Configuration { get; } = configuration;
    public ILoggerFactory LoggerFactory { get; } = loggerFactory;
    public IHookRegistry Hooks => core.Hooks;
    public TimeProvider TimeProvider => _time;
    public string DataDirectory { get; } = dataDirectory;
    public IBrokerServices Broker { get; } = broker;
    public CancellationToken Stopping => _stopping.Token;
    public Meter Meter => core.Meter;
    public IBrokerReadModel ReadModel => readModel ?? throw new NotSupportedException("this host has no read model for plugins");
    public IPluginHttp Http => core.Http;
    public IPluginCluster Cluster => core.Cluster;

    public HttpClient CreateManagementClient() =>
        managementClientFactory?.Invoke() ?? throw new NotSupportedException("this host has no management API for plugins");
    public IClientState ClientState => core.ClientState;

    public IInternalSubscription SubscribeInternal(string topicFilter, Func<BrokerMessage, CancellationToken, ValueTask> handler, int capacity = 10_000) =>
        core.SubscribeInternal(topicFilter, handler, capacity);

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
        SignalStopping();
        _time.DisposeAll();
        core.Release();
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
