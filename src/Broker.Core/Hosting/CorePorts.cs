using Broker.Core.Connections;
using System.IO.Pipelines;
using Broker.Abstractions;
using Broker.Core.AccessControl;
using Broker.Core.Alarms;
using Broker.Core.Logging;
using Broker.Core.Metrics;
using Broker.Core.Routing;
using Broker.Core.Sessions;

namespace Broker.Core.Hosting;

// The ports' implementations: each a thin view of the engine, so the engine's members stay internal.

internal sealed class StatusPort(BrokerEngine engine) : IBrokerStatus
{
    public string NodeName => engine.BrokerOptions.NodeName;

    public DateTimeOffset StartedAt => engine.StartedAt;

    public DateTimeOffset Now => engine.Now;

    public bool IsShuttingDown => engine.IsShuttingDown;

    public int Connections => engine.Metrics.Connections;

    public int RouteCount => engine.Router.RouteCount;

    public Dictionary<string, long> Stats()
    {
        var metrics = engine.Metrics;
        var stats = new Dictionary<string, long>(StringComparer.Ordinal)
        {
            ["connections.count"] = metrics.Connections,
            ["connections.max"] = metrics.ConnectionsMax,
            ["channels.count"] = engine.ChannelCount,
            ["sessions.count"] = engine.Sessions.Count,
            ["subscriptions.count"] = engine.Router.SubscriptionCount,
            ["topics.count"] = engine.Router.RouteCount,
            ["routes.count"] = engine.Router.RouteCount,
            ["retained.count"] = metrics.Retained,
            ["overload.held_bytes"] = engine.Overload.HeldBytes,
            ["overload.active"] = engine.Overload.IsActive ? 1 : 0,
        };
        if (Persistence is { } persistence)
        {
            stats["persistence.pending"] = persistence.Pending;
            stats["persistence.sessions"] = persistence.Sessions;
            stats["persistence.size_bytes"] = persistence.SizeOnDisk;
            stats["persistence.last_write_us"] = (long)(persistence.LastWriteMilliseconds * 1000);
        }
        foreach (var (name, value) in metrics.Gauges)
            stats.TryAdd(name, value);
        return stats;
    }

    public Dictionary<string, long> Metrics() => Metrics(withPluginInstruments: true);

    /// <summary>The counters of <c>/metrics</c>; with <paramref name="withPluginInstruments"/>, plugins' instruments after them.</summary>
    internal Dictionary<string, long> Metrics(bool withPluginInstruments)
    {
        var metrics = engine.Metrics;
        var hasher = engine.HasPasswordHasher ? engine.PasswordHasher : null;
        var result = new Dictionary<string, long>(StringComparer.Ordinal)
        {
            ["bytes.received"] = metrics.BytesReceived,
            ["bytes.sent"] = metrics.BytesSent,
            ["packets.received"] = metrics.PacketsReceived,
            ["packets.sent"] = metrics.PacketsSent,
            ["messages.received"] = metrics.MessagesReceived,
            ["messages.sent"] = metrics.MessagesSent,
            ["messages.dropped"] = metrics.MessagesDropped,
            ["delivery.dropped.queue_full"] = metrics.MessagesQueueDropped,
            ["delivery.dropped.not_authorized"] = metrics.DeliveryNotAuthorized,
            ["packets.publish.auth_error"] = metrics.PublishNotAuthorized,
            ["delivery.slow_subscribers"] = metrics.SlowSubscribers,
            ["packets.subscribe.auth_error"] = metrics.SubscribeNotAuthorized,
            ["messages.publisher_paused"] = metrics.PublisherPauses,
            ["messages.retained"] = metrics.Retained,
            ["client.connect.refused_overload"] = engine.Overload.RefusedConnections,
            ["client.connect.refused_banned"] = metrics.RefusedBanned,
            ["packets.connack.auth_error"] = engine.LoginFailures.Failures,
            ["client.login.delayed"] = engine.LoginFailures.Delayed,
            ["client.login.banned"] = engine.LoginFailures.Bans,
            ["auth.hash.computed"] = hasher?.Computations ?? 0,
            ["auth.hash.simulated"] = hasher?.Simulations ?? 0,
            ["auth.hash.skipped"] = hasher?.Skipped ?? 0,
            ["auth.hash.queued"] = hasher?.Queued ?? 0,
        };
        // Plugins' instruments under <plugin>.<instrument> (a histogram as .count and .sum), whole numbers as the rest.
        foreach (var metric in withPluginInstruments ? engine.PluginMetrics.Snapshot() : [])
        {
            if (metric.Kind == PluginMetricKind.Histogram)
            {
                result.TryAdd(metric.Name + ".count", metric.Count);
                result.TryAdd(metric.Name + ".sum", (long)Math.Round(metric.Value));
            }
            else
            {
                result.TryAdd(metric.Name, (long)Math.Round(metric.Value));
            }
        }
        if (engine.Journal is { } journal)
        {
            result["persistence.writes"] = journal.Writes;
            result["persistence.records_written"] = journal.Written;
            result["persistence.write_failures"] = journal.Failures;
            result["packets.publish.refused_not_durable"] = metrics.PublishNotDurable;
        }
        return result;
    }

    public IReadOnlyDictionary<string, long> PluginGauges() => new Dictionary<string, long>(engine.Metrics.Gauges, StringComparer.Ordinal);

    public IReadOnlyList<PluginMetric> PluginMetrics() => engine.PluginMetrics.Snapshot();

    public PersistenceStatus? Persistence => engine.Journal is { } journal
        ? new PersistenceStatus(journal.Pending, engine.Sessions.All.Count(static s => s.IsPersisted), journal.SizeOnDisk,
            journal.LastWriteMilliseconds, journal.Writes, journal.Written, journal.Failures, journal.IsFailing)
        : null;

    public IReadOnlyList<Alarm> ActiveAlarms() => engine.Alarms.Active();

    public IReadOnlyList<Alarm> DeactivatedAlarms() => engine.Alarms.Deactivated();

    public List<string> RouteFilters()
    {
        var filters = engine.Router.RouteFilters();
        if (engine.InternalSubscriptions.Count == 0)
            return filters;
        var all = new SortedSet<string>(filters, StringComparer.Ordinal);
        all.UnionWith(engine.InternalSubscriptions.Filters);
        return [.. all];
    }
}

internal sealed class ClientDirectory(BrokerEngine engine) : IClientDirectory, IMessagePublisher
{
    public int Count => engine.Sessions.Count;

    public int ChannelCount => engine.ChannelCount;

    public IEnumerable<SessionSnapshot> All() => engine.Sessions.All.Select(SnapshotOf);

    public SessionSnapshot? Find(string clientId) => engine.Sessions.TryGet(clientId, out var session) ? SnapshotOf(session) : null;

    public bool Exists(string clientId) => engine.Sessions.TryGet(clientId, out _);

    public List<SubscriptionEntry> Subscriptions(string? clientId = null)
    {
        List<SubscriptionSnapshot<Session>> all;
        if (clientId is null)
            all = engine.Router.Snapshot();
        else if (engine.Sessions.TryGet(clientId, out var session))
            all = engine.Router.Snapshot(session);
        else
            return [];
        return all.ConvertAll(static s => new SubscriptionEntry(s.Subscriber.ClientId, s.TopicFilter, s.Options));
    }

    public Task<bool> KickAsync(string clientId) => engine.KickAsync(clientId);

    public bool CleanAuthorizationCache(string clientId)
    {
        if (!engine.Sessions.TryGet(clientId, out var session) || session.Client is not { } client)
            return false;
        BrokerEngine.CleanAuthorizationCache(client);
        return true;
    }

    public void InvalidateAuthorization() => engine.InvalidateAuthorization();

    public async ValueTask<int> PublishAsync(BrokerMessage message, ClientInfo? publisher = null) =>
        (await engine.PublishAsync(message, publisher).ConfigureAwait(false)).Deliveries;

    private SessionSnapshot SnapshotOf(Session session)
    {
        var channel = session.Channel;
        var options = engine.SessionOptions;
        return new SessionSnapshot(session.ClientId, session.Client, channel is not null, session.ExpiryInterval, session.SubscriptionCount,
            session.InflightCount, session.QueueLength, session.DroppedCount, session.IsSlow, session.IsPersisted, session.QueuedBytes,
            channel?.Qos0BacklogBytes ?? 0, options.MaxInflight, options.MaxMqueueLength, options.MaxMqueueBytes);
    }
}

internal sealed class AccessAdministration(BrokerEngine engine) : IAccessAdministration
{
    public List<Ban> Bans() => engine.Banned.List();

    public Task<int> BanAsync(Ban ban) => engine.BanAsync(ban);

    public bool Unban(BanKind kind, string who) => engine.Banned.Remove(kind, who);

    public TraceSet Traces => engine.LogThrottle.Traces;

    public bool StartTrace(TraceKind kind, string name) => engine.LogThrottle.StartTrace(kind, name);

    public bool StopTrace(TraceKind kind, string name) => engine.LogThrottle.StopTrace(kind, name);
}

internal sealed class ConnectionHost(BrokerEngine engine) : IConnectionHost
{
    public TimeProvider TimeProvider => engine.TimeProvider;

    public TimeSpan CloseLinger => engine.MqttOptions.CloseLinger;

    public bool ShouldLog(int eventId, string name) => engine.LogThrottle.ShouldLog(eventId, name, null);

    public Task RunAsync(IDuplexPipe transport, ConnectionSettings connection) => Create(transport, connection).RunAsync();

    public IListenerConnection Start(IDuplexPipe transport, ConnectionSettings connection)
    {
        var channel = Create(transport, connection);
        channel.Start(); // registers it with the engine before its first wait
        return channel;
    }

    public async Task<int> CloseAllAsync(string listener)
    {
        var closing = new List<Task>();
        // The engine's registry: a second one per listener would cost every connection a dictionary node.
        foreach (var channel in engine.Channels)
        {
            if (channel.Listener == listener)
                closing.Add(((IListenerConnection)channel).CloseAsync());
        }
        await Task.WhenAll(closing).ConfigureAwait(false);
        return closing.Count;
    }

    private ClientChannel Create(IDuplexPipe transport, ConnectionSettings connection) =>
        new(engine, transport, connection.RemoteEndPoint, connection.Listener, connection.Writers)
        {
            UsernameFromCertificate = connection.UsernameFromCertificate,
            PeerCertUsername = connection.PeerCertUsername,
            PeerCertCommonName = connection.PeerCertCommonName,
            PeerCertSubject = connection.PeerCertSubject,
            InboundLimiter = connection.MessagesIn is null && connection.BytesIn is null
                ? null
                : new InboundRateLimiter(connection.MessagesIn, connection.BytesIn, engine.TimeProvider),
        };
}
