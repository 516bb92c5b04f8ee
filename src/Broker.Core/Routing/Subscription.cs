using Broker.Abstractions.Hooks;

namespace Broker.Core.Routing;

/// <summary>
/// One subscription as the router stores it. Immutable for readers: a SUBSCRIBE that changes the options of an
/// existing subscription publishes a new object in the old one's place, so a concurrent Match sees either the old
/// or the new options, never a torn mix.
/// </summary>
/// <typeparam name="TSubscriber">The session type.</typeparam>
internal sealed class Subscription<TSubscriber>
    where TSubscriber : class, ISubscriber
{
    private bool _isRemoved;
    private long _authorization;

    public Subscription(
        TSubscriber subscriber, SubscriptionOptions options, Route<TSubscriber> route, ShareGroup<TSubscriber>? group, long authorization)
    {
        Subscriber = subscriber;
        Options = options;
        Route = route;
        Group = group;
        _authorization = authorization;
    }

    /// <summary>
    /// How deliveries through this subscription are authorized, packed into one word so readers never see a torn
    /// pair (<see cref="DeliveryAuthorization"/>). Written when the subscription is authorized again.
    /// </summary>
    public long Authorization
    {
        get => Volatile.Read(ref _authorization);
        set => Volatile.Write(ref _authorization, value);
    }

    public TSubscriber Subscriber { get; }

    public SubscriptionOptions Options { get; }

    /// <summary>The route (topic filter) this subscription hangs on.</summary>
    public Route<TSubscriber> Route { get; }

    /// <summary>The share group, or null for an ordinary subscription.</summary>
    public ShareGroup<TSubscriber>? Group { get; }

    /// <summary>
    /// Set by the writer that unsubscribes or replaces this subscription, so a Sticky choice a reader made from a
    /// stale member array is noticed and re-made.
    /// </summary>
    public bool IsRemoved
    {
        get => Volatile.Read(ref _isRemoved);
        set => Volatile.Write(ref _isRemoved, value);
    }

    /// <summary>Index in <see cref="Route{TSubscriber}.Subscribers"/>. Read and written by writers only.</summary>
    public int Slot { get; set; }
}

/// <summary>Identity of a subscription: the subscriber (by reference), the filter without share prefix, the group.</summary>
/// <typeparam name="TSubscriber">The session type.</typeparam>
internal readonly struct SubscriptionKey<TSubscriber> : IEquatable<SubscriptionKey<TSubscriber>>
    where TSubscriber : class, ISubscriber
{
    private readonly TSubscriber _subscriber;
    private readonly string _filter;
    private readonly string? _group;

    public SubscriptionKey(TSubscriber subscriber, string filter, string? group)
    {
        _subscriber = subscriber;
        _filter = filter;
        _group = group;
    }

    public bool Equals(SubscriptionKey<TSubscriber> other) =>
        ReferenceEquals(_subscriber, other._subscriber)
        && string.Equals(_filter, other._filter, StringComparison.Ordinal)
        && string.Equals(_group, other._group, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is SubscriptionKey<TSubscriber> other && Equals(other);

    public override int GetHashCode() =>
        HashCode.Combine(
            System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(_subscriber),
            StringComparer.Ordinal.GetHashCode(_filter),
            _group is null ? 0 : StringComparer.Ordinal.GetHashCode(_group));
}
