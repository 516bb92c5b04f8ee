using System.Collections.Concurrent;
using Broker.Abstractions.Hooks;
using Broker.Protocol;

namespace Broker.Core.Routing;

/// <summary>
/// Maps topic filters to subscribers and a published topic to the deliveries it causes (DESIGN.md §4).
/// </summary>
/// <remarks>
/// <para>Filters without wildcards live in a dictionary keyed by the whole filter; filters with <c>+</c> or <c>#</c>
/// live in a <see cref="TopicTrie{TSubscriber}"/>. A publish costs one dictionary lookup plus one trie walk.</para>
/// <para>Threading: <see cref="Match"/> runs concurrently on any number of threads and takes no lock.
/// <see cref="Subscribe"/> and <see cref="Unsubscribe"/> are serialised by one lock and publish their changes
/// with volatile writes of complete objects (see <see cref="SubscriptionSlots{TSubscriber}"/>,
/// <see cref="ShareGroup{TSubscriber}"/>). A Match that runs during a change sees the state before or after it for
/// each filter. One window is tolerated: a Match racing an unsubscribe and re-subscribe of the same subscriber to the
/// same filter may report that subscriber twice.</para>
/// <para>Subscribers are identified by reference (one session object per client).</para>
/// </remarks>
/// <typeparam name="TSubscriber">The session type.</typeparam>
internal sealed partial class Router<TSubscriber>
    where TSubscriber : class, ISubscriber
{
    private readonly SharedSubscriptionStrategy _strategy;
    private readonly Random? _random;
    private readonly Lock _randomLock = new();
    private readonly Lock _writeLock = new();
    private readonly ConcurrentDictionary<string, Route<TSubscriber>> _exact = new(StringComparer.Ordinal);
    private long _exactVersion; // changes after every add to or removal from _exact (ExactRouteMemo)
    private readonly TopicTrie<TSubscriber> _trie = new();
    private readonly Dictionary<SubscriptionKey<TSubscriber>, Subscription<TSubscriber>> _subscriptions = [];
    private int _subscriptionCount;
    private int _routeCount;
    private long _authorizationEpoch;
    private IRouteObserver? _observer; // the cluster's; written under the write lock, read there only
    private readonly Dictionary<string, int> _held = new(StringComparer.Ordinal); // HoldRoute's counts, under the write lock

    /// <param name="strategy">How share group members are chosen.</param>
    /// <param name="random">Source for the Random and Sticky strategies (tests pass a seeded one; used under a
    /// lock); null uses <see cref="Random.Shared"/>.</param>
    public Router(SharedSubscriptionStrategy strategy, Random? random = null)
    {
        _strategy = strategy;
        _random = random;
    }

    /// <summary>
    /// Moves when the authorization rules may have changed: every subscription decided before is then checked per
    /// delivery until it is decided again (<see cref="DeliveryAuthorization"/>).
    /// </summary>
    public long AuthorizationEpoch => Volatile.Read(ref _authorizationEpoch);

    /// <summary>Starts a new authorization epoch; returns it.</summary>
    public long InvalidateAuthorization() => Interlocked.Increment(ref _authorizationEpoch);

    /// <summary>
    /// Every subscription that is not <see cref="DeliveryAuthorization.Trusted"/>, to be authorized again. A snapshot
    /// taken under the write lock.
    /// </summary>
    public List<Subscription<TSubscriber>> AuthorizedSubscriptions()
    {
        var result = new List<Subscription<TSubscriber>>();
        lock (_writeLock)
        {
            foreach (var subscription in _subscriptions.Values)
            {
                if (subscription.Authorization != DeliveryAuthorization.Trusted)
                    result.Add(subscription);
            }
        }
        return result;
    }

    /// <summary>
    /// Of <paramref name="subscriber"/>'s subscriptions to <paramref name="topicFilters"/> (as it made them, share
    /// prefix included), those whose deliveries are authorized: looked up one by one, so a session resumed among 100k
    /// others costs its own subscriptions, not a walk over all of them.
    /// </summary>
    public List<Subscription<TSubscriber>> AuthorizedSubscriptions(TSubscriber subscriber, IEnumerable<string> topicFilters)
    {
        var result = new List<Subscription<TSubscriber>>();
        lock (_writeLock)
        {
            foreach (var topicFilter in topicFilters)
            {
                if (TryParseKey(subscriber, topicFilter, out var key, out _, out _)
                    && _subscriptions.TryGetValue(key, out var subscription)
                    && subscription.Authorization != DeliveryAuthorization.Trusted)
                    result.Add(subscription);
            }
        }
        return result;
    }

    /// <summary>
    /// From now on tells <paramref name="observer"/> of every route added or removed (<see cref="IRouteObserver"/>: a
    /// filter's ordinary subscriptions, and each share group on a filter, are separate routes), and
    /// returns the routes there are now: taken under the same lock, so no change falls between the two.
    /// </summary>
    public List<string> Observe(IRouteObserver? observer)
    {
        lock (_writeLock)
        {
            _observer = observer;
            var routes = new HashSet<string>(_held.Keys, StringComparer.Ordinal);
            foreach (var subscription in _subscriptions.Values)
            {
                routes.Add(subscription.Group is { } group
                    ? RouteNames.Shared(group.Name, subscription.Route.Filter)
                    : subscription.Route.Filter);
            }
            return [.. routes];
        }
    }

    /// <summary>
    /// Keeps the ordinary route of <paramref name="filter"/> (valid, no share prefix) announced to the observer while
    /// held, with or without subscribers here: subscriptions matched elsewhere (plugins' internal ones) that other nodes
    /// must forward to this one. Counted: each hold is ended by one <see cref="ReleaseRoute"/>.
    /// </summary>
    public void HoldRoute(string filter)
    {
        lock (_writeLock)
        {
            _held.TryGetValue(filter, out var count);
            _held[filter] = count + 1;
            if (count == 0 && !HasSubscribersLocked(filter))
                _observer?.RouteAdded(filter);
        }
    }

    /// <summary>Ends one <see cref="HoldRoute"/> of <paramref name="filter"/>.</summary>
    public void ReleaseRoute(string filter)
    {
        lock (_writeLock)
        {
            if (!_held.TryGetValue(filter, out var count))
                return;
            if (count > 1)
            {
                _held[filter] = count - 1;
                return;
            }
            _held.Remove(filter);
            if (!HasSubscribersLocked(filter))
                _observer?.RouteRemoved(filter);
        }
    }

    private bool HasSubscribersLocked(string filter) =>
        (MqttTopic.HasWildcard(filter) ? _trie.FindRoute(filter) : _exact.GetValueOrDefault(filter)) is { Subscribers.Count: > 0 };

    /// <summary>All subscriptions, shared ones included.</summary>
    public int SubscriptionCount => Volatile.Read(ref _subscriptionCount);

    /// <summary>Distinct topic filters (share prefix removed) with at least one subscription: $SYS "topics".</summary>
    public int RouteCount => Volatile.Read(ref _routeCount);

    /// <summary>Trie nodes below the root; shows that unsubscribing prunes. Walks the trie under the write lock.</summary>
    public int TrieNodeCount
    {
        get
        {
            lock (_writeLock)
                return _trie.CountNodes();
        }
    }

    /// <summary>
    /// Adds a subscription, or replaces the options of the subscriber's existing subscription to the same filter and
    /// group. <paramref name="topicFilter"/> may carry a <c>$share/{group}/</c> or <c>$queue/</c> prefix and must be
    /// valid (the caller has checked it).
    /// </summary>
    /// <param name="subscriber">The session.</param>
    /// <param name="topicFilter">The filter, with any share prefix.</param>
    /// <param name="options">The granted options.</param>
    /// <param name="authorization">
    /// How its deliveries are authorized (<see cref="DeliveryAuthorization"/>); <see cref="DeliveryAuthorization.Trusted"/>
    /// for a subscription nobody authorized (a plugin's, the management API's).
    /// </param>
    /// <returns>True when new; false when it replaced existing options.</returns>
    public bool Subscribe(TSubscriber subscriber, string topicFilter, SubscriptionOptions options, long authorization = DeliveryAuthorization.Trusted)
    {
        ArgumentNullException.ThrowIfNull(subscriber);
        var key = ParseKey(subscriber, topicFilter, out var group, out var filter);
        lock (_writeLock)
        {
            if (_subscriptions.TryGetValue(key, out var existing))
            {
                var replacement = new Subscription<TSubscriber>(subscriber, options, existing.Route, existing.Group, authorization);
                if (existing.Group is null)
                    existing.Route.Subscribers.Replace(existing, replacement);
                else
                    existing.Group.Replace(existing, replacement);
                existing.IsRemoved = true;
                _subscriptions[key] = replacement;
                return false;
            }

            var route = GetOrCreateRoute(filter);
            var groupCreated = false;
            var shareGroup = group is null ? null : route.GetOrAddGroup(group, out groupCreated);
            var subscription = new Subscription<TSubscriber>(subscriber, options, route, shareGroup, authorization);
            if (shareGroup is null)
            {
                route.Subscribers.Add(subscription);
                if (route.Subscribers.Count == 1 && !_held.ContainsKey(filter))
                    _observer?.RouteAdded(filter);
            }
            else
            {
                shareGroup.Add(subscription);
                if (groupCreated)
                    _observer?.RouteAdded(RouteNames.Shared(shareGroup.Name, filter));
            }
            _subscriptions.Add(key, subscription);
            Volatile.Write(ref _subscriptionCount, _subscriptions.Count);
            return true;
        }
    }

    /// <summary>Removes the subscriber's subscription to the filter (with the same share prefix, if any).</summary>
    /// <returns>False if there was no such subscription (a malformed filter never names one).</returns>
    public bool Unsubscribe(TSubscriber subscriber, string topicFilter)
    {
        ArgumentNullException.ThrowIfNull(subscriber);
        if (!TryParseKey(subscriber, topicFilter, out var key, out _, out _))
            return false;
        lock (_writeLock)
        {
            if (!_subscriptions.Remove(key, out var subscription))
                return false;
            Volatile.Write(ref _subscriptionCount, _subscriptions.Count);
            subscription.IsRemoved = true;
            var route = subscription.Route;
            if (subscription.Group is { } group)
            {
                group.Remove(subscription);
                if (group.Members.Length == 0)
                {
                    route.RemoveGroup(group);
                    _observer?.RouteRemoved(RouteNames.Shared(group.Name, route.Filter));
                }
            }
            else
            {
                route.Subscribers.Remove(subscription);
                if (route.Subscribers.Count == 0 && !_held.ContainsKey(route.Filter))
                    _observer?.RouteRemoved(route.Filter);
            }
            if (route.IsEmpty)
            {
                if (route.Owner is null)
                {
                    _exact.TryRemove(new KeyValuePair<string, Route<TSubscriber>>(route.Filter, route));
                    Volatile.Write(ref _exactVersion, _exactVersion + 1);
                }
                else
                    _trie.RemoveRoute(route);
                Volatile.Write(ref _routeCount, _routeCount - 1);
            }
            return true;
        }
    }

    private static SubscriptionKey<TSubscriber> ParseKey(TSubscriber subscriber, string topicFilter, out string? group, out string filter) =>
        TryParseKey(subscriber, topicFilter, out var key, out group, out filter)
            ? key
            : throw new ArgumentException($"Invalid topic filter '{topicFilter}'.", nameof(topicFilter));

    private static bool TryParseKey(
        TSubscriber subscriber, string topicFilter, out SubscriptionKey<TSubscriber> key, out string? group, out string filter)
    {
        var shared = MqttTopic.TryParseShared(topicFilter, out group, out filter);
        key = new SubscriptionKey<TSubscriber>(subscriber, filter, group);
        return (!shared || group is not null) && MqttTopic.IsValidTopicFilter(filter);
    }

    /// <summary>Caller holds the write lock.</summary>
    private Route<TSubscriber> GetOrCreateRoute(string filter)
    {
        Route<TSubscriber> route;
        bool created;
        if (MqttTopic.HasWildcard(filter))
        {
            route = _trie.GetOrCreateRoute(filter, out created);
        }
        else
        {
            created = !_exact.TryGetValue(filter, out var existing);
            route = existing ?? (_exact[filter] = new Route<TSubscriber>(filter, owner: null, isMultiLevel: false));
            if (created)
                Volatile.Write(ref _exactVersion, _exactVersion + 1); // after the add: see ExactRouteMemo
        }
        if (created)
            Volatile.Write(ref _routeCount, _routeCount + 1);
        return route;
    }
}
