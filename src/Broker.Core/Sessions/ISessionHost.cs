using Broker.Abstractions;
using Broker.Core.Configuration;
using Broker.Core.Hooks;
using Broker.Core.Persistence;
using Broker.Core.Routing;
using Microsoft.Extensions.Logging;

namespace Broker.Core.Sessions;

/// <summary>
/// What the session room (<see cref="Session"/>, <see cref="SessionManager"/>) needs of the broker around it. The
/// engine implements it; sessions never see the engine, so the dependency runs one way: engine → sessions.
/// </summary>
internal interface ISessionHost
{
    SessionOptions SessionOptions { get; }

    TimeProvider TimeProvider { get; }

    DateTimeOffset Now { get; }

    ILoggerFactory LoggerFactory { get; }

    /// <summary>Where persistent sessions' changes go; null when persistence is off.</summary>
    PersistenceJournal? Journal { get; }

    /// <summary>Whether a QoS 1/2 delivery waits until the journal has it on disk (<c>persistence.sync = sync</c>).</summary>
    bool SyncPersistence { get; }

    /// <summary>The broker-wide watermark: above it, publishers feeding the largest queues wait.</summary>
    Overload.OverloadProtection Overload { get; }

    /// <summary>Where sessions' subscriptions are routed.</summary>
    Router<Session> Router { get; }

    /// <summary>The cluster this node is in (client-id ownership across nodes); null when clustering is off.</summary>
    Cluster.IClusterLink? Cluster { get; }

    /// <summary>The session.* hooks.</summary>
    HookRegistry Hooks { get; }

    /// <summary>A message was dropped (counted, <c>message.dropped</c>).</summary>
    void OnDropped(BrokerMessage message, string reason, bool queueFull, ClientInfo? client);

    /// <summary>A subscriber was just found slow (<c>session.slow_subscriber_timeout</c>).</summary>
    void OnSlowSubscriber(Session session);

    /// <summary>A resumed session's subscriptions are authorized again for its new connection.</summary>
    void ReauthorizeSubscriptions(Session session);

    /// <summary>Publishes a will (<c>message.publish</c>, then routing).</summary>
    ValueTask<PublishOutcome> PublishAsync(BrokerMessage message, ClientInfo? publisher);
}
