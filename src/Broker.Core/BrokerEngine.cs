using Broker.Core.Connections;
using System.Collections.Concurrent;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Cluster;
using Broker.Core.Configuration;
using Broker.Core.Hooks;
using Broker.Core.Logging;
using Broker.Core.Metrics;
using Broker.Core.Plugins;
using Broker.Core.Routing;
using Broker.Core.Sessions;
using Microsoft.Extensions.Logging;

namespace Broker.Core;

/// <summary>
/// The broker core: owns the hook chains, the router, the sessions and the metrics, and carries a message from
/// <see cref="PublishAsync"/> through <c>message.publish</c> and one router match to every subscriber's session.
/// Transport-agnostic: a listener hands each accepted connection to <see cref="ClientChannel"/>.
/// </summary>
internal sealed partial class BrokerEngine : ISessionHost
{
    [ThreadStatic]
    private static List<RouteMatch<Session>>? t_matches;

    private readonly ChannelRegistry _channels = new();
    private readonly ILogger _logger;
    private int _shuttingDown;

    public BrokerEngine(
        MqttOptions mqtt,
        SessionOptions session,
        AccessControlOptions access,
        BrokerOptions broker,
        TimeProvider timeProvider,
        ILoggerFactory loggerFactory,
        LogThrottle? logThrottle = null,
        string? bannedPath = null)
    {
        MqttOptions = mqtt;
        SessionOptions = session;
        AccessOptions = access;
        BrokerOptions = broker;
        TimeProvider = timeProvider;
        LoggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("Broker.Core");
        ChannelLogger = loggerFactory.CreateLogger("Broker.Core.Channel");
        _aclCacheTtl = (long)(access.AclCacheTtl.TotalSeconds * timeProvider.TimestampFrequency);
        // Without one from the host (tests, micro-benchmarks): every event written, and no timer on their clock.
        LogThrottle = logThrottle ?? new LogThrottle(TimeSpan.Zero, 1, timeProvider, _logger);
        Hooks = new HookRegistry(broker.HookTimeout, timeProvider, loggerFactory.CreateLogger("Broker.Core.Hooks"));
        Hooks.ClientAuthorize.Changed = InvalidateAuthorization;
        Router = new Router<Session>((SharedSubscriptionStrategy)broker.SharedSubscriptionStrategy);
        InternalSubscriptions = new InternalSubscriptions(Router, LogThrottle, loggerFactory.CreateLogger("Broker.Core.Routing"));
        Sessions = new SessionManager(this);
        Deadlines = new DeadlineHeap(timeProvider);
        Alarms = new Alarms.AlarmRegistry(timeProvider);
        Banned = new AccessControl.BannedList(timeProvider, bannedPath, loggerFactory.CreateLogger("Broker.Core.AccessControl"));
        Overload = new Overload.OverloadProtection(this);
        LoginFailures = new AccessControl.LoginFailures(this);
        _passwordHasher = new Lazy<AccessControl.PasswordHasher>(() => new AccessControl.PasswordHasher(access.PasswordHashConcurrency));
        PluginSupport = new Hosting.PluginSupport(this);
        Handshake = new Connections.ConnectHandshake(this);
        StartedAt = timeProvider.GetUtcNow();
    }

    /// <summary>The node's alarms (management API <c>/alarms</c>, <c>ctl alarms list</c>, $SYS).</summary>
    public Alarms.AlarmRegistry Alarms { get; }

    /// <summary>
    /// Clients refused at CONNECT (<c>ctl banned</c>, management API <c>/banned</c>, the login-failure tracker); kept in
    /// the file the host passed as <c>bannedPath</c> (<c>&lt;data dir&gt;/banned</c>), in memory only without one.
    /// </summary>
    public AccessControl.BannedList Banned { get; }

    /// <summary>Failed logins per address and user name (<c>login_failure.*</c>): held logins and bans.</summary>
    public AccessControl.LoginFailures LoginFailures { get; }

    /// <summary>
    /// The threads where password hashes are computed (<c>password_hash_concurrency</c>), for the built-in password
    /// file and whatever else checks hashed passwords: a flood of wrong passwords costs at most those cores.
    /// </summary>
    /// <remarks>Started on first use: an engine that never checks a password (tests, benchmarks) has no such threads.</remarks>
    public AccessControl.PasswordHasher PasswordHasher => _passwordHasher.Value;

    /// <summary>Whether <see cref="PasswordHasher"/> has been started (for metrics that must not start it).</summary>
    public bool HasPasswordHasher => _passwordHasher.IsValueCreated;

    private readonly Lazy<AccessControl.PasswordHasher> _passwordHasher;

    /// <summary>The broker-wide memory watermark (<c>overload_protection.*</c>); started by the host.</summary>
    public Overload.OverloadProtection Overload { get; }

    /// <summary>Decides each CONNECT.</summary>
    internal Connections.ConnectHandshake Handshake { get; }

    /// <summary>The connections' CONNECT and keep-alive deadlines, on one timer.</summary>
    internal DeadlineHeap Deadlines { get; }

    public MqttOptions MqttOptions { get; }
    public SessionOptions SessionOptions { get; }
    public AccessControlOptions AccessOptions { get; }
    public BrokerOptions BrokerOptions { get; }
    public TimeProvider TimeProvider { get; }
    public ILoggerFactory LoggerFactory { get; }

    /// <summary>What every connection logs to: one for all, not a field in each (an idle fleet holds every channel).</summary>
    internal ILogger ChannelLogger { get; }
    public HookRegistry Hooks { get; }

    /// <summary>The plugin host's port: all it may use of the core.</summary>
    public Hosting.PluginSupport PluginSupport { get; }

    /// <summary>Plugins' per-connection data (<c>IPluginContext.ClientState</c>), dropped when a connection closes.</summary>
    public Plugins.ClientStates ClientStates { get; } = new();

    /// <summary>Plugins' HTTP endpoints (<c>IPluginContext.Http</c>), served by the management API.</summary>
    public PluginEndpoints PluginEndpoints { get; } = new();

    /// <summary>Plugins' subscriptions without a session (<c>IPluginContext.SubscribeInternal</c>), matched after the sessions'.</summary>
    public InternalSubscriptions InternalSubscriptions { get; }

    /// <summary>Plugins' <see cref="System.Diagnostics.Metrics"/> instruments, for the exporters (one meter per plugin instance).</summary>
    public Metrics.PluginMetrics PluginMetrics { get; } = new();

    /// <summary>Limits per-client and per-message log events; holds the traced clients and topics (<c>ctl trace</c>).</summary>
    public LogThrottle LogThrottle { get; }
    public Router<Session> Router { get; }
    public SessionManager Sessions { get; }

    /// <summary>Where persistent sessions' changes go (<see cref="Persistence.PersistenceJournal"/>); null when persistence is off.</summary>
    public Persistence.PersistenceJournal? Journal { get; private set; }

    /// <summary>Whether a QoS 1/2 PUBLISH is acknowledged only once the journal has it on disk (<c>persistence.sync = sync</c>).</summary>
    public bool SyncPersistence { get; private set; }

    /// <summary>
    /// Turns persistence on over <paramref name="store"/>: restores the sessions it holds (offline, their expiry counted
    /// from when they went offline, or from now for those connected at a crash) and journals changes from here on. Call
    /// once, after the plugins have started and before any listener opens.
    /// </summary>
    /// <exception cref="InvalidDataException">The store holds records this broker cannot read (newer or corrupt).</exception>
    public int EnablePersistence(Persistence.IPersistentStore store, Configuration.PersistenceOptions options)
    {
        var records = store.ReadAll().ToList();
        // The journal first: a restored session whose expiry passed while the broker was down ends at once, in it.
        Journal = new Persistence.PersistenceJournal(store, options.Interval, LoggerFactory.CreateLogger("Broker.Core.Persistence"), TimeProvider);
        SyncPersistence = options.Sync == Configuration.PersistenceSync.Sync;
        return Sessions.Restore(records);
    }
    public BrokerMetrics Metrics { get; } = new();
    public DateTimeOffset StartedAt { get; }
    public DateTimeOffset Now => TimeProvider.GetUtcNow();
    public bool IsShuttingDown => Volatile.Read(ref _shuttingDown) != 0;

    /// <summary>Connections currently open (connected or still in CONNECT).</summary>
    public ICollection<ClientChannel> Channels => _channels.Snapshot();

    /// <summary>How many connections are open, without a snapshot of them.</summary>
    public int ChannelCount => _channels.Count;

    /// <summary>Registers <paramref name="channel"/>; returns its slot, for <see cref="Unregister"/>.</summary>
    internal int Register(ClientChannel channel) => _channels.Add(channel);

    internal void Unregister(ClientChannel channel, int slot) => _channels.Remove(channel, slot);

    /// <summary>
    /// Publishes a message from a client (<paramref name="publisher"/>) or from the broker/a plugin (null): runs
    /// <c>message.publish</c>, then routes it. Authorization is the caller's business.
    /// </summary>
    public ValueTask<PublishOutcome> PublishAsync(BrokerMessage message, ClientInfo? publisher)
    {
        if (Hooks.MessagePublish.IsEmpty)
            return RouteAsync(message, publisher);
        return PublishWithHooksAsync(message, publisher);
    }

    private async ValueTask<PublishOutcome> PublishWithHooksAsync(BrokerMessage message, ClientInfo? publisher)
    {
        var context = new MessagePublishContext { Client = publisher, Message = message };
        await Hooks.MessagePublish.RunAsync(context).ConfigureAwait(false);
        if (!context.Route)
            return new PublishOutcome(-1, context.ReasonCode);
        return await RouteAsync(context.Message, publisher).ConfigureAwait(false);
    }

    /// <summary>
    /// One trie match, then one delivery per matching session. Completes synchronously unless a subscription granted
    /// in part needs a <c>client.authorize</c> callback that does not (<see cref="AuthorizedRecipientAsync"/>).
    /// </summary>
    /// <param name="message">The message.</param>
    /// <param name="publisher">The publishing client, whose memo of its last topic's route is used and updated; null for none.</param>
    /// <returns>
    /// The number of deliveries, and a connected subscriber other than the publisher whose queue is now more than
    /// half full, if any: the publisher's connection waits for it before reading on (session.backpressure_timeout).
    /// </returns>
    public ValueTask<PublishOutcome> RouteAsync(BrokerMessage message, ClientInfo? publisher) =>
        RouteLocalAsync(message, publisher, _cluster, null);

    /// <summary>
    /// A message another node forwarded here (<see cref="IClusterLink"/>): delivered to this node's subscribers within
    /// <paramref name="scope"/> only (its ordinary subscribers if that node saw them, the share groups it chose this
    /// node for), never forwarded again. <c>message.publish</c> already ran on the node it was published on.
    /// </summary>
    public ValueTask<PublishOutcome> DeliverForwardedAsync(BrokerMessage message, DeliveryScope scope) =>
        RouteLocalAsync(message, null, null, scope);

    /// <summary>
    /// The channel between plugins' copies on the nodes of the cluster (<see cref="Abstractions.Plugins.IPluginCluster"/>);
    /// set before the plugins start by the broker (whose node may join a cluster at any time); null: never clustered.
    /// </summary>
    public IPluginMessaging? PluginMessaging { get; set; }

    /// <summary>The cluster this node is part of; null when clustering is off.</summary>
    public IClusterLink? Cluster => _cluster;

    private IClusterLink? _cluster;

    /// <summary>
    /// Joins this node's routing to <paramref name="cluster"/>: from now on it is told of every route change and handed
    /// every message published here. Returns the routes this node has now (for the cluster's first announcement). Call
    /// before the listeners open, or again after <see cref="DetachCluster"/> (<c>ctl cluster join</c>).
    /// </summary>
    public List<string> AttachCluster(IClusterLink cluster)
    {
        var routes = Router.Observe(cluster);
        Volatile.Write(ref _cluster, cluster);
        return routes;
    }

    /// <summary>
    /// Ends what <see cref="AttachCluster"/> began (<c>ctl cluster leave</c>): route changes and messages published here
    /// stay on this node. A publish already past its read of the link may still hand it one message.
    /// </summary>
    public void DetachCluster()
    {
        Router.Observe(null);
        Volatile.Write(ref _cluster, null);
    }

    /// <param name="message">The message.</param>
    /// <param name="publisher">See <see cref="RouteAsync"/>.</param>
    /// <param name="cluster">Where to forward it after the match (counted as one delivery per node); null for none.</param>
    /// <param name="scope">For a forwarded message, which subscriptions here it is for; null for all.</param>
    private ValueTask<PublishOutcome> RouteLocalAsync(BrokerMessage message, ClientInfo? publisher, IClusterLink? cluster, DeliveryScope? scope)
    {
        var delivered = 0;
        // Plugins' internal subscriptions first: they only queue, and without any this is one read.
        if (InternalSubscriptions.Count != 0)
            delivered += InternalSubscriptions.Deliver(message);
        var matches = t_matches ??= new List<RouteMatch<Session>>(16);
        matches.Clear();
        if (publisher is not null)
            Router.Match(message.Topic, message.PublisherId, matches, ref publisher.RouteMemo);
        else if (scope is null)
            Router.Match(message.Topic, message.PublisherId, matches);
        else
        {
            Router.Match(message.Topic, message.PublisherId, matches, scope);
            // A forward for share groups: which of them had no member here any more goes back to the sender, which
            // chooses another node for them (only forwards that name groups pay for this).
            if (scope.Groups.Length != 0)
                scope.NoteUnserved(matches);
        }
        // Other nodes next (only queued), after the match: a share group with a member here is served here alone.
        // Without a cluster this is one null check.
        ForwardOutcome remote = default;
        if (cluster is not null)
        {
            remote = cluster.Forward(message, new LocalDeliveries(matches));
            delivered += remote.Nodes;
        }
        if (matches.Count == 0)
        {
            // Share groups this node could not serve are the sender's to place elsewhere or report dropped.
            if (delivered == 0 && scope?.Unserved is null)
                OnDropped(message, "no_subscribers", false, null);
            return ValueTask.FromResult(new PublishOutcome(delivered, MqttReasonCode.Success, null, remote.Acknowledged, remote.Behind));
        }
        Session? behind = null;
        for (var i = 0; i < matches.Count; i++)
        {
            var match = matches[i];
            if (match.CheckDelivery)
            {
                var recipient = AuthorizedRecipientAsync(match, message.Topic);
                if (!recipient.IsCompletedSuccessfully)
                {
                    // The rest waits for this decision, in match order; the thread's list is reused by the next publish.
                    var rest = matches.GetRange(i, matches.Count - i);
                    matches.Clear();
                    return RouteSlowAsync(message, recipient, rest, delivered, behind, remote);
                }
                if (recipient.Result is not { } allowed)
                {
                    OnDeliveryDenied(message, match.Subscriber);
                    continue;
                }
                match = allowed;
            }
            Deliver(message, match, ref behind);
            delivered++;
        }
        matches.Clear();
        return ValueTask.FromResult(new PublishOutcome(delivered, MqttReasonCode.Success, behind, remote.Acknowledged, remote.Behind));
    }

    private async ValueTask<PublishOutcome> RouteSlowAsync(
        BrokerMessage message, ValueTask<RouteMatch<Session>?> pending, List<RouteMatch<Session>> rest, int delivered, Session? behind,
        ForwardOutcome remote)
    {
        for (var i = 0; i < rest.Count; i++)
        {
            var recipient = i == 0 ? await pending.ConfigureAwait(false)
                : rest[i].CheckDelivery ? await AuthorizedRecipientAsync(rest[i], message.Topic).ConfigureAwait(false)
                : rest[i];
            if (recipient is { } match)
            {
                Deliver(message, match, ref behind);
                delivered++;
            }
            else
            {
                OnDeliveryDenied(message, rest[i].Subscriber);
            }
        }
        return new PublishOutcome(delivered, MqttReasonCode.Success, behind, remote.Acknowledged, remote.Behind);
    }

    private void Deliver(BrokerMessage message, in RouteMatch<Session> match, ref Session? behind)
    {
        var qos = SessionOptions.UpgradeQos ? match.Qos : (MqttQos)Math.Min((byte)message.Qos, (byte)match.Qos);
        // Forwarded to an established subscription: RETAIN is cleared unless Retain As Published
        // [MQTT-3.3.1-12] (5.0), [MQTT-3.3.1-9] (3.1.1).
        var retain = message.Retain && match.RetainAsPublished;
        if (match.Subscriber.Deliver(message, qos, retain, match.SubscriptionIdentifiers) && behind is null
            && !string.Equals(match.Subscriber.ClientId, message.PublisherId, StringComparison.Ordinal))
            behind = match.Subscriber;
    }

    /// <summary>
    /// Back-pressure: whoever delivered a message to <paramref name="subscriber"/>, now more than half full, waits until
    /// it has caught up, or session.backpressure_timeout has passed: a publisher's connection before it reads on, the
    /// cluster before it takes (and acknowledges) more from another node. The wait ends at once when the subscriber is
    /// declared slow (session.slow_subscriber_timeout): if that moment comes first, this waiter declares it.
    /// </summary>
    internal async ValueTask WaitForSubscriberAsync(Session subscriber)
    {
        var timeout = SessionOptions.BackpressureTimeout;
        if (timeout <= TimeSpan.Zero)
            return;
        var caughtUp = subscriber.WaitUntilCaughtUpAsync();
        if (caughtUp.IsCompleted)
            return;
        Metrics.PublisherPaused();
        var untilSlow = subscriber.TimeUntilSlow();
        var slowFirst = untilSlow < timeout;
        await caughtUp.WaitAsync(slowFirst ? untilSlow!.Value : timeout, TimeProvider).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (slowFirst && !caughtUp.IsCompleted)
            subscriber.CheckSlow(); // releases every publisher waiting for it
    }

    /// <summary>A subscriber was just found slow (<c>session.slow_subscriber_timeout</c>): counted and logged.</summary>
    public void OnSlowSubscriber(Session session)
    {
        Metrics.SlowSubscriber();
        if (LogThrottle.ShouldLog(4, nameof(LogSlowSubscriber), session.ClientId))
            LogSlowSubscriber(_logger, session.ClientId, SessionOptions.SlowSubscriberTimeout.TotalSeconds, SessionOptions.SlowSubscriberPolicy);
    }

    public void OnDropped(BrokerMessage message, string reason, bool queueFull, ClientInfo? client)
    {
        // A message nobody subscribed to is not a loss; it is only reported to hooks.
        if (reason != "no_subscribers")
            Metrics.Dropped(queueFull);
        if (!Hooks.MessageDropped.IsEmpty)
            _ = Hooks.MessageDropped.RunAsync(new MessageDroppedContext { Client = client, Message = message, Reason = reason });
    }

    /// <summary>
    /// Kicks a client (management API, <c>ctl clients kick</c>): closes its connection (MQTT 5: DISCONNECT 0x98
    /// Administrative Action) and discards its session, as EMQX's kick does. Completes once the connection has been
    /// cleaned up. Returns false when no session has <paramref name="clientId"/>.
    /// </summary>
    public async Task<bool> KickAsync(string clientId)
    {
        if (!Sessions.TryGet(clientId, out var session))
            return false;
        if (session.Channel is { } channel)
            await channel.CloseAsync(MqttReasonCode.AdministrativeAction, "kicked").ConfigureAwait(false);
        await Sessions.DiscardAsync(session, "kicked").ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Adds <paramref name="ban"/> and closes every connection it matches now; their sessions stay and follow their
    /// expiry, as after any disconnect. Returns how many connections were closed.
    /// </summary>
    /// <remarks>
    /// MQTT 5 clients are sent DISCONNECT 0x98 Administrative action, as for a kick: 0x8A Banned is a CONNACK code
    /// only, not one a DISCONNECT may carry (MQTT 5 section 3.14.2.1); they learn of the ban at their next CONNECT.
    /// </remarks>
    public Task<int> BanAsync(AccessControl.Ban ban) => BanAsync(ban, fromCluster: false, disconnect: true);

    /// <summary>
    /// <see cref="BanAsync(AccessControl.Ban)"/>, or a ban another node made (<paramref name="fromCluster"/>: the cluster
    /// is not told again), disconnecting the matching clients here only if <paramref name="disconnect"/>, as that node did.
    /// </summary>
    internal async Task<int> BanAsync(AccessControl.Ban ban, bool fromCluster, bool disconnect)
    {
        ban = ban with { Who = AccessControl.BannedList.Normalize(ban.As, ban.Who) };
        if (fromCluster)
            Banned.Apply(ban);
        else
            Banned.Add(ban, disconnects: true);
        if (!disconnect)
            return 0;
        var closing = new List<Task>();
        foreach (var channel in _channels.Snapshot())
        {
            if (channel.Client is { } client && Matches(ban, client))
                closing.Add(channel.CloseAsync(MqttReasonCode.AdministrativeAction, "banned"));
        }
        await Task.WhenAll(closing).ConfigureAwait(false);
        return closing.Count;

        static bool Matches(AccessControl.Ban ban, ClientInfo client) => ban.As switch
        {
            AccessControl.BanKind.ClientId => client.ClientId == ban.Who,
            AccessControl.BanKind.Username => client.Username == ban.Who,
            _ => client.RemoteEndPoint is { } remote && AccessControl.BannedList.Normalize(remote.Address) == ban.Who,
        };
    }

    /// <summary>From now on new CONNECTs are refused with Server Unavailable.</summary>
    public void BeginShutdown() => Volatile.Write(ref _shuttingDown, 1);

    /// <summary>
    /// Asks every connection still open to close (MQTT 5: DISCONNECT 0x8B Server Shutting Down) and waits for them,
    /// up to <paramref name="timeout"/>; then stops session timers. Sessions are in memory and end with the process.
    /// </summary>
    public async Task ShutdownAsync(TimeSpan timeout)
    {
        BeginShutdown();
        var closing = new List<Task>();
        foreach (var channel in _channels.Snapshot())
            closing.Add(channel.CloseAsync(MqttReasonCode.ServerShuttingDown, "shutdown"));
        try
        {
            await Task.WhenAll(closing).WaitAsync(timeout, TimeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogShutdownTimeout(_logger, _channels.Count);
        }
        Sessions.Shutdown();
    }

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Client {ClientId} is a slow subscriber: its queue has been more than half full for {Seconds} s; publishers no longer wait for it (session.slow_subscriber_policy = {Policy})")]
    private static partial void LogSlowSubscriber(ILogger logger, string clientId, double seconds, SlowSubscriberPolicy policy);

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "{Count} connections did not close in time at shutdown")]
    private static partial void LogShutdownTimeout(ILogger logger, int count);
}

/// <summary>What became of a published message.</summary>
/// <param name="Deliveries">Sessions it was delivered to; -1 when a message.publish callback kept it from being routed.</param>
/// <param name="ReasonCode">For -1: the reason code the publisher's PUBACK/PUBREC carries.</param>
/// <param name="Behind">A connected subscriber that has fallen behind (see <see cref="BrokerEngine.RouteAsync"/>), or null.</param>
/// <param name="RemoteAcknowledged">
/// In a cluster, for a QoS 1/2 message forwarded to other nodes: completes when they all have it
/// (<see cref="ForwardOutcome.Acknowledged"/>); the PUBACK/PUBREC waits for it. Null otherwise.
/// </param>
/// <param name="RemoteBehind">In a cluster: a node it went to is behind; the publisher waits for it (<see cref="ForwardOutcome.Behind"/>).</param>
internal readonly record struct PublishOutcome(
    int Deliveries, MqttReasonCode ReasonCode, Session? Behind = null, Task? RemoteAcknowledged = null, Task? RemoteBehind = null);
