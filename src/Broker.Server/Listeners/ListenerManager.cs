using Broker.Core.Hosting;
using Microsoft.Extensions.Logging;

namespace Broker.Server.Listeners;

/// <summary>
/// The broker's MQTT listeners (every one not configured <c>off</c>), by EMQX identifier: started after the plugins at
/// boot, stopped first at shutdown, and stopped/restarted one at a time through the management API. The management
/// API's own listener is not one of them and cannot be stopped through itself.
/// </summary>
internal sealed partial class ListenerManager
{
    private readonly ILogger _logger;

    private ListenerManager(IReadOnlyList<MqttListener> listeners, string nodeName, ILogger logger)
    {
        Listeners = listeners;
        NodeName = nodeName;
        _logger = logger;
    }

    public string NodeName { get; }

    public IReadOnlyList<MqttListener> Listeners { get; }

    /// <summary>
    /// Builds the enabled listeners; loads (or generates) TLS material. Throws <see cref="IOException"/> (also for
    /// unreadable PEM files) or <see cref="UnauthorizedAccessException"/> naming the key and file.
    /// </summary>
    public static ListenerManager Create(BrokerSettings settings, IConnectionHost connections, ILoggerFactory loggerFactory)
    {
        var logger = loggerFactory.CreateLogger("Broker.Server.Listeners");
        var nodeHost = settings.Core.NodeName is { } node && node.Contains('@', StringComparison.Ordinal) ? node[(node.IndexOf('@', StringComparison.Ordinal) + 1)..] : "localhost";
        var listeners = new List<MqttListener>();
        var budget = ConnectionBudget.FromFileDescriptorLimit(logger, settings.Listeners.FdReserve);
        foreach (var options in settings.MqttListeners)
        {
            if (!options.Enabled)
                continue;
            ListenerTls? tls = null;
            if (options is TlsListenerOptions tlsOptions)
            {
                tls = ListenerTls.Load(tlsOptions, settings.ResolveEtcPath, settings.DataDirectory, nodeHost);
                if (tls.GeneratedInto is { } folder)
                    LogDevelopmentCertificate(logger, options.Name, tls.Created ? "generated" : "reused", folder, tlsOptions.KeyPrefix);
            }
            listeners.Add(new MqttListener(options, connections, tls, loggerFactory, budget));
        }
        return new ListenerManager(listeners, settings.Core.NodeName, logger);
    }

    public MqttListener? Find(string identifier)
    {
        foreach (var listener in Listeners)
        {
            if (string.Equals(listener.Identifier, identifier, StringComparison.OrdinalIgnoreCase))
                return listener;
        }
        return null;
    }

    public async Task StartAllAsync()
    {
        foreach (var listener in Listeners)
            await listener.StartAsync().ConfigureAwait(false);
        if (Listeners.Count == 0)
            LogNoListener(_logger);
    }

    public async Task StopAllAsync()
    {
        var stopping = new List<Task>(Listeners.Count);
        foreach (var listener in Listeners)
            stopping.Add(listener.StopAsync());
        await Task.WhenAll(stopping).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 210, Level = LogLevel.Warning, Message = "Listener {Name}: no certfile configured, using the self-signed development certificate {State} in {Folder} (set {Prefix}.certfile and .keyfile for production)")]
    private static partial void LogDevelopmentCertificate(ILogger logger, string name, string state, string folder, string prefix);

    [LoggerMessage(EventId = 211, Level = LogLevel.Warning, Message = "Every MQTT listener is off: no client can connect")]
    private static partial void LogNoListener(ILogger logger);
}
