namespace Broker.Abstractions.Hooks;

/// <summary>Base of every hook context: the client the event concerns, if any.</summary>
public abstract class HookContext
{
    private TimeSpan _callbackTimeout;
    private TimeProvider? _clock;
    private CancellationTokenSource? _callbackCancellation;

    /// <summary>The client; null only for messages published by the broker or a plugin.</summary>
    public ClientInfo? Client { get; init; }

    /// <summary>
    /// Fires when the running callback's timeout (its registration's <see cref="HookOptions.Timeout"/>, else
    /// <c>plugins.hook_timeout</c>) has passed, counted from the first read of this property, or at once if the broker
    /// has already given up on the callback. Pass it to every asynchronous call a callback makes (a database query, an
    /// HTTP request), so work the broker no longer waits for stops. Reading it costs a timer only the first time in a
    /// callback; a callback that finishes synchronously need not read it.
    /// </summary>
    public CancellationToken CancellationToken
    {
        get
        {
            if (_clock is null)
                return CancellationToken.None;
            _callbackCancellation ??= new CancellationTokenSource(_callbackTimeout, _clock);
            return _callbackCancellation.Token;
        }
    }

    /// <summary>The chain is about to run a callback with this timeout.</summary>
    internal void BeginCallback(TimeSpan timeout, TimeProvider clock)
    {
        EndCallback();
        _callbackTimeout = timeout;
        _clock = clock;
    }

    /// <summary>Set by the chain when a callback failed (threw or overran its timeout): such an outcome is not cached.</summary>
    internal bool CallbackFailed { get; set; }

    /// <summary>The chain has given up on the running callback: its token fires now.</summary>
    internal void AbandonCallback() => _callbackCancellation?.Cancel();

    /// <summary>The running callback is over: its token's timer is released.</summary>
    internal void EndCallback()
    {
        if (_callbackCancellation is { } cancellation)
        {
            _callbackCancellation = null;
            cancellation.Dispose();
        }
    }
}

/// <summary>Context of <see cref="HookPoints.ClientConnect"/>.</summary>
public sealed class ClientConnectContext : HookContext
{
    /// <summary>The CONNECT properties (MQTT 5); callbacks may replace them.</summary>
    public MqttProperties? ConnectProperties { get; set; }
}

/// <summary>Context of <see cref="HookPoints.ClientConnack"/>.</summary>
public sealed class ClientConnackContext : HookContext
{
    /// <summary>The reason code the CONNACK carries.</summary>
    public MqttReasonCode ReasonCode { get; init; }

    /// <summary>The CONNACK properties (MQTT 5); callbacks may add to them.</summary>
    public MqttProperties? Properties { get; set; }
}

/// <summary>The accumulator of <see cref="HookPoints.ClientAuthenticate"/>.</summary>
public enum AuthenticationResult
{
    /// <summary>This callback has no opinion: let the next one (or <c>allow_anonymous</c>) decide.</summary>
    Ignore = 0,
    /// <summary>The client may connect.</summary>
    Allow = 1,
    /// <summary>The client may not connect.</summary>
    Deny = 2,
}

/// <summary>Context of <see cref="HookPoints.ClientAuthenticate"/>.</summary>
public sealed class ClientAuthenticateContext : HookContext
{
    /// <summary>The password from CONNECT, if any. Do not keep it.</summary>
    public ReadOnlyMemory<byte>? Password { get; init; }

    /// <summary>The decision so far.</summary>
    public AuthenticationResult Result { get; set; }

    /// <summary>For a denial: the CONNACK reason code (default Bad User Name or Password / Not Authorized).</summary>
    public MqttReasonCode DenyReasonCode { get; set; } = MqttReasonCode.BadUserNameOrPassword;

    /// <summary>Set by a callback that recognises a superuser: authorization then allows everything.</summary>
    public bool IsSuperuser { get; set; }
}

/// <summary>What is being authorized.</summary>
public enum AuthorizationAction
{
    /// <summary>A PUBLISH to <see cref="ClientAuthorizeContext.Topic"/>.</summary>
    Publish = 1,
    /// <summary>A SUBSCRIBE to the filter <see cref="ClientAuthorizeContext.Topic"/>.</summary>
    Subscribe = 2,
}

/// <summary>The accumulator of <see cref="HookPoints.ClientAuthorize"/>.</summary>
public enum AuthorizationResult
{
    /// <summary>No opinion: the next callback, then <c>acl_nomatch</c>, decides.</summary>
    Ignore = 0,
    /// <summary>Allowed.</summary>
    Allow = 1,
    /// <summary>Denied.</summary>
    Deny = 2,
}

/// <summary>Context of <see cref="HookPoints.ClientAuthorize"/>.</summary>
/// <remarks>
/// <para>
/// The broker asks three questions through this one context. <b>Publish</b>: may the client publish to
/// <see cref="Topic"/> (a topic name)? <b>Subscribe</b>: may the client subscribe to <see cref="Topic"/> (a topic
/// filter, a set of topic names)? <b>Delivery</b> (<see cref="Action"/> is Subscribe and <see cref="IsDelivery"/> is
/// true): may a message published to the topic name <see cref="Topic"/> be delivered to the client through a
/// subscription that was granted with <see cref="CheckDeliveries"/>?
/// </para>
/// <para>
/// For a subscription, decide for the whole filter when you can: <see cref="AuthorizationResult.Allow"/> when every
/// topic it matches may be received (the broker then checks nothing per message), <see cref="AuthorizationResult.Deny"/>
/// when none may (SUBACK 0x80 / 0x87). When only some may (a rule denies <c>secret/#</c>, the client subscribes to
/// <c>#</c>), set <see cref="CheckDeliveries"/>: the subscription is granted unless the chain ends in Deny, and each
/// message delivered through it is asked about again with <see cref="IsDelivery"/> set and its topic name in
/// <see cref="Topic"/>; a denied message is not delivered to that subscriber (counted as
/// <c>delivery.dropped.not_authorized</c>). A callback that treats a topic name as a filter without wildcards answers
/// the delivery question correctly without looking at <see cref="IsDelivery"/>.
/// </para>
/// <para>
/// The subscribe decision is kept with the subscription until the rules change: when a <c>client.authorize</c>
/// callback is registered or removed, or the broker's acl.conf is reloaded, every subscription is checked per message
/// until it has been authorized again, and a resumed session's subscriptions are authorized again for the new
/// connection. A plugin whose own rules change at run time calls <c>IBrokerServices.InvalidateAuthorization</c>.
/// </para>
/// </remarks>
public sealed class ClientAuthorizeContext : HookContext
{
    /// <summary>Publish or subscribe (also for a delivery: see <see cref="IsDelivery"/>).</summary>
    public AuthorizationAction Action { get; init; }

    /// <summary>
    /// The topic name (publish, delivery) or topic filter (subscribe; without any <c>$share/group/</c> prefix).
    /// </summary>
    public required string Topic { get; init; }

    /// <summary>
    /// True when the broker asks whether one message, published to the topic name <see cref="Topic"/>, may be
    /// delivered to the client through a subscription granted with <see cref="CheckDeliveries"/>.
    /// </summary>
    public bool IsDelivery { get; init; }

    /// <summary>
    /// For a subscribe question: set by a callback whose decision does not hold for every topic the filter matches,
    /// so each message delivered through the subscription must be checked (see the remarks). Ignored otherwise.
    /// </summary>
    public bool CheckDeliveries { get; set; }

    /// <summary>The decision so far.</summary>
    public AuthorizationResult Result { get; set; }
}

/// <summary>Context of <see cref="HookPoints.ClientConnected"/>.</summary>
public sealed class ClientConnectedContext : HookContext
{
    /// <summary>Whether an existing session was resumed.</summary>
    public bool SessionPresent { get; init; }
}

/// <summary>Context of <see cref="HookPoints.ClientDisconnected"/>.</summary>
public sealed class ClientDisconnectedContext : HookContext
{
    /// <summary>
    /// Why: the reason code of the client's DISCONNECT (0x00, or 0x04 with will); else what the server sent or
    /// would send: Session Taken Over, Keep Alive Timeout, Malformed Packet, Server Shutting Down ..., or
    /// Unspecified Error for a lost socket.
    /// </summary>
    public MqttReasonCode ReasonCode { get; init; }

    /// <summary>
    /// A short reason: <c>normal</c> (client DISCONNECT), <c>takenover</c>, <c>keepalive_timeout</c>,
    /// <c>idle_timeout</c>, <c>protocol_error</c>, <c>refused</c>, <c>shutdown</c>, <c>kicked</c> (management API),
    /// <c>closed</c> (socket lost).
    /// </summary>
    public string Reason { get; init; } = "";
}

/// <summary>The options of one subscription (MQTT 5 3.8.3.1; for 3.x only <see cref="Qos"/> is meaningful).</summary>
/// <param name="Qos">Maximum QoS granted.</param>
/// <param name="NoLocal">Do not deliver the client's own messages back to it.</param>
/// <param name="RetainAsPublished">Keep the RETAIN flag as published when forwarding.</param>
/// <param name="RetainHandling">When retained messages are sent on subscribe.</param>
/// <param name="SubscriptionIdentifier">MQTT 5 Subscription Identifier; 0 = none.</param>
public readonly record struct SubscriptionOptions(
    MqttQos Qos,
    bool NoLocal = false,
    bool RetainAsPublished = false,
    MqttRetainHandling RetainHandling = MqttRetainHandling.SendAtSubscribe,
    uint SubscriptionIdentifier = 0);

/// <summary>One topic filter of a SUBSCRIBE, as seen by <see cref="HookPoints.ClientSubscribe"/>.</summary>
/// <param name="TopicFilter">The filter as requested, including any <c>$share/group/</c> or <c>$queue/</c> prefix.</param>
/// <param name="Options">The requested options.</param>
public readonly record struct SubscriptionRequest(string TopicFilter, SubscriptionOptions Options);

/// <summary>Context of <see cref="HookPoints.ClientSubscribe"/>.</summary>
public sealed class ClientSubscribeContext : HookContext
{
    /// <summary>The requested subscriptions, in packet order; callbacks may change the filters.</summary>
    public required IList<SubscriptionRequest> Subscriptions { get; init; }

    /// <summary>The SUBSCRIBE user properties (MQTT 5), if any.</summary>
    public IReadOnlyList<MqttUserProperty>? UserProperties { get; init; }
}

/// <summary>Context of <see cref="HookPoints.ClientUnsubscribe"/>.</summary>
public sealed class ClientUnsubscribeContext : HookContext
{
    /// <summary>The filters to remove, in packet order; callbacks may change them.</summary>
    public required IList<string> TopicFilters { get; init; }
}

/// <summary>Context of the session lifecycle hook points (created, resumed, discarded, taken over).</summary>
public sealed class SessionContext : HookContext
{
}

/// <summary>Context of <see cref="HookPoints.SessionTerminated"/>.</summary>
public sealed class SessionTerminatedContext : HookContext
{
    /// <summary>
    /// Why the session ended: <c>normal</c> (its connection closed and its expiry was 0), <c>expired</c>,
    /// <c>discarded</c> (a clean-start connection replaced it), <c>takenover</c>. Sessions live in memory: a broker
    /// shutdown ends them without this hook.
    /// </summary>
    public string Reason { get; init; } = "";
}

/// <summary>Context of <see cref="HookPoints.SessionSubscribed"/>.</summary>
public sealed class SessionSubscribedContext : HookContext
{
    private readonly Action<BrokerMessage>? _deliver;

    /// <summary>Made by the broker.</summary>
    /// <param name="deliver">Enqueues a retained message on the subscribing session.</param>
    public SessionSubscribedContext(Action<BrokerMessage>? deliver) => _deliver = deliver;

    /// <summary>The filter as subscribed, without any share prefix.</summary>
    public required string TopicFilter { get; init; }

    /// <summary>The share group for <c>$share/group/filter</c>, else null.</summary>
    public string? ShareGroup { get; init; }

    /// <summary>The granted options.</summary>
    public SubscriptionOptions Options { get; init; }

    /// <summary>False when the subscription replaced an existing one with the same filter.</summary>
    public bool IsNew { get; init; }

    /// <summary>
    /// Sends <paramref name="retained"/> to this subscriber as a retained message (RETAIN set, 3.3.1.3) at
    /// min(message QoS, granted QoS), through the session's normal queue. For retainer-style plugins; honour
    /// <see cref="SubscriptionOptions.RetainHandling"/> and <see cref="IsNew"/> before calling.
    /// </summary>
    /// <param name="retained">The retained message.</param>
    public void Deliver(BrokerMessage retained) => _deliver?.Invoke(retained);
}

/// <summary>Context of <see cref="HookPoints.SessionUnsubscribed"/>.</summary>
public sealed class SessionUnsubscribedContext : HookContext
{
    /// <summary>The removed filter, without any share prefix.</summary>
    public required string TopicFilter { get; init; }

    /// <summary>The share group, if it was a shared subscription.</summary>
    public string? ShareGroup { get; init; }
}

/// <summary>Context of <see cref="HookPoints.MessagePublish"/>.</summary>
public sealed class MessagePublishContext : HookContext
{
    /// <summary>The message; callbacks may replace it with a modified copy.</summary>
    public required BrokerMessage Message { get; set; }

    /// <summary>Set to false (and stop) to keep the message from being routed, e.g. a delayed publish.</summary>
    public bool Route { get; set; } = true;

    /// <summary>The reason code for the publisher's PUBACK/PUBREC when the message is not routed (MQTT 5).</summary>
    public MqttReasonCode ReasonCode { get; set; } = MqttReasonCode.Success;
}

/// <summary>Context of <see cref="HookPoints.MessageDelivered"/> and <see cref="HookPoints.MessageAcked"/>.</summary>
public sealed class MessageDeliveryContext : HookContext
{
    /// <summary>The message (the subscriber is <see cref="HookContext.Client"/>).</summary>
    public required BrokerMessage Message { get; init; }
}

/// <summary>Context of <see cref="HookPoints.MessageDropped"/>.</summary>
public sealed class MessageDroppedContext : HookContext
{
    /// <summary>The message.</summary>
    public required BrokerMessage Message { get; init; }

    /// <summary>
    /// Why: <c>no_subscribers</c>, <c>queue_full</c>, <c>expired</c>, <c>not_authorized</c>, <c>too_large</c>,
    /// <c>qos0_offline</c>, <c>disconnected</c> (QoS 0 to a connection that was closing).
    /// </summary>
    public required string Reason { get; init; }
}
