using System.Diagnostics.Metrics;
using Broker.Abstractions.Hooks;
using Broker.Core.AccessControl;
using Broker.Core.Cluster;
using Broker.Core.Logging;
using Broker.Core.Plugins;
using Broker.Core.Sys;
using Microsoft.Extensions.Logging;

namespace Broker.Core.Hosting;

/// <summary>
/// The core as a host builds and runs it: the engine behind a few narrow ports, each for one consumer, and the core's
/// life cycle in the order the broker executable drives it (build, built-in access control, plugins, persistence,
/// <see cref="Start"/>, <see cref="ShutdownAsync"/>, <see cref="DisposeAsync"/>). Nothing else of the core is public to
/// the host.
/// </summary>
public sealed class BrokerCore : IAsyncDisposable
{
    private readonly BrokerEngine _engine;
    private readonly CoreSettings _settings;
    private readonly Meter _meter;
    private readonly StatusPort _status;
    private SysPublisher? _sys;
    private int _disposed;

    /// <summary>Builds the core.</summary>
    /// <param name="settings">The core's part of broker.conf, bound; kept, not copied.</param>
    /// <param name="logThrottle">Per-event log limits (<c>log.throttle_window</c>, <c>log.throttle_burst</c>).</param>
    /// <param name="bannedPath">Where the banned list is kept (<c>&lt;data&gt;/banned</c>); null: in memory only.</param>
    public BrokerCore(CoreSettings settings, (TimeSpan Window, int Burst) logThrottle, TimeProvider timeProvider,
        ILoggerFactory loggerFactory, string? bannedPath)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings;
        _engine = new BrokerEngine(settings.Mqtt, settings.Session, settings.Access, settings.Node, timeProvider, loggerFactory,
            new LogThrottle(logThrottle.Window, logThrottle.Burst, timeProvider, loggerFactory.CreateLogger("Broker.Core")), bannedPath);
        _meter = _engine.Metrics.CreateMeter();
        _status = new StatusPort(_engine);
        Clients = new ClientDirectory(_engine);
        Access = new AccessAdministration(_engine);
        Connections = new ConnectionHost(_engine);
        Cluster = new ClusterPort(_engine);
    }

    /// <summary>The engine, for the core's own tests.</summary>
    internal BrokerEngine Engine => _engine;

    /// <summary>The broker's clock.</summary>
    public TimeProvider TimeProvider => _engine.TimeProvider;

    /// <summary>What plugins may do to the broker (<c>IPluginContext.Broker</c>); the management API's subscribe and unsubscribe use it too.</summary>
    public Abstractions.Plugins.IBrokerServices Services => _engine.PluginSupport.Services;

    /// <summary>Read model for the management API, Prometheus and dashboards.</summary>
    public IBrokerStatus Status => _status;

    /// <summary>This node's sessions, for the management API.</summary>
    public IClientDirectory Clients { get; }

    /// <summary>Publishing as the broker (the management API's <c>/mqtt/publish</c>).</summary>
    public IMessagePublisher Publisher => (IMessagePublisher)Clients;

    /// <summary>Banned list and traces.</summary>
    public IAccessAdministration Access { get; }

    /// <summary>For the MQTT listeners.</summary>
    public IConnectionHost Connections { get; }

    /// <summary>For Broker.Cluster.</summary>
    public IClusterPort Cluster { get; }

    /// <summary>For the plugin host.</summary>
    public PluginSupport Plugins => _engine.PluginSupport;

    /// <summary>Plugins' HTTP endpoints, which the management API serves.</summary>
    public PluginEndpoints PluginEndpoints => _engine.PluginEndpoints;

    /// <summary>
    /// Loads the password and ACL files and puts them in the authentication and authorization chains (after plugins
    /// of higher priority); a reload of the rules invalidates every authorization decision.
    /// </summary>
    /// <remarks>
    /// A password check may wait <c>mqtt.idle_timeout</c>: its turn for a hashing thread (<c>password_hash_concurrency</c>)
    /// may be longer than <c>plugins.hook_timeout</c> in a reconnect storm, and after that the connection is closed
    /// anyway (and its queued hash skipped). New passwords are hashed with <c>password_hash_iterations</c>.
    /// </remarks>
    /// <param name="passwordFile"><see cref="CoreSettings.PasswordFile"/>, resolved by the host.</param>
    /// <param name="aclFile"><see cref="CoreSettings.AclFile"/>, resolved by the host.</param>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="AccessFileException">A file has an error (named with its line).</exception>
    public BuiltinAccessControl UseBuiltinAccessControl(string passwordFile, string aclFile)
    {
        var authenticateTimeout = _settings.Mqtt.IdleTimeout;
        var accessControl = new BuiltinAccessControl(passwordFile, aclFile,
            _engine.LoggerFactory.CreateLogger("Broker.Core.AccessControl"), _engine.PasswordHasher, iterations: _settings.Access.PasswordHashIterations);
        _engine.Hooks.Register(HookPoints.ClientAuthenticate, accessControl.AuthenticateAsync,
            new HookOptions { Priority = HookPriorities.BuiltinAccessControl, Timeout = authenticateTimeout }, "builtin_access");
        _engine.Hooks.Register(HookPoints.ClientAuthorize, accessControl.AuthorizeAsync, HookPriorities.BuiltinAccessControl, "builtin_access");
        accessControl.Reloaded += _engine.InvalidateAuthorization;
        return accessControl;
    }

    /// <summary>
    /// The channel between plugins' copies on the cluster's nodes (<c>IPluginContext.Cluster</c>); set before the
    /// plugins start. Null: a single node, always.
    /// </summary>
    public IPluginMessaging? PluginMessaging
    {
        get => _engine.PluginMessaging;
        set => _engine.PluginMessaging = value;
    }

    /// <summary>
    /// With <see cref="CoreSettings.PersistenceEnabled"/>: restores the persisted sessions from <paramref name="store"/> and
    /// journals their changes to it from now on (<c>persistence.sync</c>, <c>persistence.interval</c>). Call once, after
    /// the plugins have started and before any listener opens.
    /// </summary>
    /// <returns>How many sessions were restored.</returns>
    /// <exception cref="InvalidDataException">The store holds records this broker cannot read (newer or corrupt).</exception>
    public int EnablePersistence(Persistence.IPersistentStore store) => _engine.EnablePersistence(store, _settings.Persistence);

    /// <summary>Starts $SYS and the overload watermark; call once the listeners are open.</summary>
    public void Start()
    {
        _sys = new SysPublisher(_engine, _status);
        _sys.Start();
        _engine.Overload.Start();
    }

    /// <inheritdoc cref="BrokerEngine.BeginShutdown"/>
    public void BeginShutdown() => _engine.BeginShutdown();

    /// <summary>
    /// Stops $SYS and the watermark, then closes every connection still open (MQTT 5: DISCONNECT 0x8B), waiting up to
    /// <paramref name="timeout"/>. Call after the listeners stopped and before the plugins stop.
    /// </summary>
    public Task ShutdownAsync(TimeSpan timeout)
    {
        _sys?.Dispose();
        _engine.Overload.Dispose();
        return _engine.ShutdownAsync(timeout);
    }

    /// <summary>Last, after the plugins stopped: what the sessions hold is written (a clean stop loses nothing); threads and meters end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (_engine.Journal is { } journal)
            await journal.DisposeAsync().ConfigureAwait(false);
        if (_engine.HasPasswordHasher)
            _engine.PasswordHasher.Dispose();
        _engine.PluginMetrics.Dispose();
        _meter.Dispose();
        _engine.LogThrottle.Dispose();
    }
}
