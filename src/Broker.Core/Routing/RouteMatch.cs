using Broker.Abstractions;

namespace Broker.Core.Routing;

/// <summary>
/// One delivery decided by <see cref="Router{TSubscriber}.Match"/>. A mutable struct with public fields so the
/// caller's reused <see cref="List{T}"/> holds the matches inline and the router aggregates in place.
/// </summary>
/// <typeparam name="TSubscriber">The session type.</typeparam>
internal struct RouteMatch<TSubscriber>
    where TSubscriber : class, ISubscriber
{
    /// <summary>Who receives the message.</summary>
    public TSubscriber Subscriber;

    /// <summary>The maximum granted QoS over the subscriber's matching subscriptions (one, for a shared delivery).</summary>
    public MqttQos Qos;

    /// <summary>True if any matching subscription had Retain As Published.</summary>
    public bool RetainAsPublished;

    /// <summary>The distinct non-zero Subscription Identifiers of the matching subscriptions; null if none.</summary>
    public List<uint>? SubscriptionIdentifiers;

    /// <summary>The share group this delivery was chosen from; null for an ordinary subscription.</summary>
    public ShareGroup<TSubscriber>? Group;

    /// <summary>
    /// True when the message must pass <c>client.authorize</c> for this subscriber before it is delivered: every
    /// matching subscription was granted for part of its filter only, or was granted under rules that have changed
    /// since (<see cref="DeliveryAuthorization"/>).
    /// </summary>
    public bool CheckDelivery;

    /// <summary>The name of <see cref="Group"/>.</summary>
    public readonly string? ShareGroup => Group?.Name;
}
