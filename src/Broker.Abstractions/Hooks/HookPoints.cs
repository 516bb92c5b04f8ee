namespace Broker.Abstractions.Hooks;

/// <summary>
/// Every hook point of the broker, in one place (EMQX <c>emqx_hookpoints</c>). Each names the moment it fires,
/// its context, what its accumulator is and what <see cref="HookResult.Stop"/> means.
/// </summary>
public static class HookPoints
{
    /// <summary>
    /// A CONNECT has been read, before authentication. Accumulator: <see cref="ClientConnectContext.ConnectProperties"/>.
    /// Stop: skip later callbacks only.
    /// </summary>
    public static readonly HookPoint<ClientConnectContext> ClientConnect = new("client.connect");

    /// <summary>
    /// A CONNACK is about to be sent (accepted or refused). Accumulator: <see cref="ClientConnackContext.Properties"/>.
    /// </summary>
    public static readonly HookPoint<ClientConnackContext> ClientConnack = new("client.connack");

    /// <summary>
    /// Decide whether the client may connect. Accumulator: <see cref="ClientAuthenticateContext.Result"/>, starting at
    /// <see cref="AuthenticationResult.Ignore"/>; a callback that decides sets it and usually stops. If every callback
    /// ignores, the broker's <c>allow_anonymous</c> decides. A callback that fails denies.
    /// </summary>
    public static readonly HookPoint<ClientAuthenticateContext> ClientAuthenticate = new("client.authenticate", failureDenies: true);

    /// <summary>
    /// Decide whether the client may publish to a topic, subscribe to a filter, or receive a message through a
    /// subscription whose filter was only partly allowed (<see cref="ClientAuthorizeContext"/>'s remarks). Accumulator:
    /// <see cref="ClientAuthorizeContext.Result"/>, starting at <see cref="AuthorizationResult.Ignore"/>; if every callback
    /// ignores, <c>acl_nomatch</c> decides. A callback that fails denies.
    /// </summary>
    public static readonly HookPoint<ClientAuthorizeContext> ClientAuthorize = new("client.authorize", failureDenies: true);

    /// <summary>The client is connected and its CONNACK sent.</summary>
    public static readonly HookPoint<ClientConnectedContext> ClientConnected = new("client.connected");

    /// <summary>The connection of a connected client has closed, for whatever reason.</summary>
    public static readonly HookPoint<ClientDisconnectedContext> ClientDisconnected = new("client.disconnected");

    /// <summary>
    /// A SUBSCRIBE has been read, before authorization. Accumulator: <see cref="ClientSubscribeContext.Subscriptions"/>
    /// (a callback may rewrite filters or remove entries; a removed entry is answered with Unspecified Error).
    /// </summary>
    public static readonly HookPoint<ClientSubscribeContext> ClientSubscribe = new("client.subscribe");

    /// <summary>An UNSUBSCRIBE has been read. Accumulator: <see cref="ClientUnsubscribeContext.TopicFilters"/>.</summary>
    public static readonly HookPoint<ClientUnsubscribeContext> ClientUnsubscribe = new("client.unsubscribe");

    /// <summary>A new session was created for a client.</summary>
    public static readonly HookPoint<SessionContext> SessionCreated = new("session.created");

    /// <summary>
    /// A subscription was added to (or replaced in) a session. Plugins that send retained messages do so here
    /// through <see cref="SessionSubscribedContext.Deliver"/>.
    /// </summary>
    public static readonly HookPoint<SessionSubscribedContext> SessionSubscribed = new("session.subscribed");

    /// <summary>A subscription was removed from a session.</summary>
    public static readonly HookPoint<SessionUnsubscribedContext> SessionUnsubscribed = new("session.unsubscribed");

    /// <summary>A persistent session was resumed by a new connection.</summary>
    public static readonly HookPoint<SessionContext> SessionResumed = new("session.resumed");

    /// <summary>A persistent session was discarded because the client connected with clean start.</summary>
    public static readonly HookPoint<SessionContext> SessionDiscarded = new("session.discarded");

    /// <summary>A session was taken over by a new connection with the same client id.</summary>
    public static readonly HookPoint<SessionContext> SessionTakenOver = new("session.takenover");

    /// <summary>A session has ended (clean disconnect of a clean session, expiry, discard, shutdown).</summary>
    public static readonly HookPoint<SessionTerminatedContext> SessionTerminated = new("session.terminated");

    /// <summary>
    /// A message is about to be routed (from a client, from the broker or a plugin). Accumulator:
    /// <see cref="MessagePublishContext.Message"/>; a callback may replace it. Stop with
    /// <see cref="MessagePublishContext.Route"/> set to false: the message is not routed (the publisher is still
    /// acknowledged, with reason code <see cref="MessagePublishContext.ReasonCode"/>).
    /// </summary>
    public static readonly HookPoint<MessagePublishContext> MessagePublish = new("message.publish");

    /// <summary>A message was written to a subscriber's connection.</summary>
    public static readonly HookPoint<MessageDeliveryContext> MessageDelivered = new("message.delivered");

    /// <summary>A subscriber acknowledged a QoS 1 (PUBACK) or QoS 2 (PUBCOMP) message.</summary>
    public static readonly HookPoint<MessageDeliveryContext> MessageAcked = new("message.acked");

    /// <summary>
    /// A message was dropped: no subscriber, a full queue, expiry, a denied publish, a packet too large for the
    /// subscriber. <see cref="MessageDroppedContext.Reason"/> says which.
    /// </summary>
    public static readonly HookPoint<MessageDroppedContext> MessageDropped = new("message.dropped");

    /// <summary>All hook points, in declaration order.</summary>
    public static IReadOnlyList<HookPoint> All { get; } =
    [
        ClientConnect, ClientConnack, ClientAuthenticate, ClientAuthorize, ClientConnected, ClientDisconnected,
        ClientSubscribe, ClientUnsubscribe, SessionCreated, SessionSubscribed, SessionUnsubscribed, SessionResumed,
        SessionDiscarded, SessionTakenOver, SessionTerminated, MessagePublish, MessageDelivered, MessageAcked,
        MessageDropped,
    ];
}

/// <summary>
/// Every priority used by the broker and its shipped plugins, in one table (EMQX <c>emqx_hooks.hrl</c>).
/// Higher runs first. Third-party plugins should pick a value relative to these.
/// </summary>
public static class HookPriorities
{
    /// <summary>The default for callbacks that have no reason to be ordered.</summary>
    public const int Default = 0;

    /// <summary>Topic rewrite runs before anything that looks at topics.</summary>
    public const int TopicRewrite = 1000;

    /// <summary>External authentication / authorization plugins (Redis, SQL, LDAP, HTTP).</summary>
    public const int ExternalAuth = 500;

    /// <summary>The built-in password file and acl.conf: after external backends, before the anonymous default.</summary>
    public const int BuiltinAccessControl = 100;

    /// <summary>Delayed publish takes <c>$delayed/</c> messages before they are routed or retained.</summary>
    public const int DelayedPublish = 900;

    /// <summary>The retainer stores retained messages and delivers them on subscribe.</summary>
    public const int Retainer = 50;

    /// <summary>Observers that only read (presence, metrics exporters).</summary>
    public const int Observer = -100;
}
