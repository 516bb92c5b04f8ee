using System.Runtime.InteropServices;
using Broker.Abstractions.Hooks;

namespace Broker.Core.Routing;

internal sealed partial class Router<TSubscriber>
{
    /// <summary>
    /// Up to this many candidate subscriptions, aggregation finds a subscriber's earlier entry by scanning this call's
    /// results; above it, through the per-thread reusable index.
    /// </summary>
    /// <remarks>
    /// A per-subscriber "stamp" field is not an option: many threads match at once and would overwrite each other's
    /// stamps. A scan over a handful of entries beats hashing; the index keeps large fan-outs linear. When only one
    /// matched filter has ordinary subscriptions (the common case) no aggregation is needed at all: a subscriber
    /// appears once per filter.
    /// </remarks>
    private const int LinearScanLimit = 16;

    [ThreadStatic]
    private static MatchScratch<TSubscriber>? _scratch;

    /// <summary>
    /// Matches <paramref name="topic"/> once against every subscription and appends the deliveries to
    /// <paramref name="results"/> (the caller clears and reuses the list):
    /// one entry per subscriber for its ordinary subscriptions, aggregated (max QoS [MQTT-3.3.5-1]; all
    /// Subscription Identifiers, MQTT 5 3.3.4; Retain As Published if any) and skipping No Local subscriptions of the
    /// publisher itself [MQTT-3.8.3-3]; plus, for each matching (share group, filter), one member chosen by the
    /// strategy, as a separate entry with <see cref="RouteMatch{TSubscriber}.ShareGroup"/> set. No Local is not applied
    /// to shared subscriptions: MQTT 5 forbids it there [MQTT-3.8.3-4], so the session layer rejects it at SUBSCRIBE.
    /// The share groups' entries come after all ordinary ones.
    /// </summary>
    /// <param name="topic">A valid topic name.</param>
    /// <param name="publisherId">The publisher's client id; null for messages from the broker or a plugin.</param>
    /// <param name="results">Receives the deliveries; entries already in it are left alone.</param>
    public void Match(string topic, string? publisherId, List<RouteMatch<TSubscriber>> results)
    {
        _exact.TryGetValue(topic, out var exact);
        Match(topic, exact, publisherId, results, null);
    }

    /// <summary>
    /// <see cref="Match(string, string?, List{RouteMatch{TSubscriber}})"/> limited to <paramref name="scope"/>: the
    /// ordinary subscriptions only if it says so, and only the share groups it names (a message another node
    /// forwarded here).
    /// </summary>
    public void Match(string topic, string? publisherId, List<RouteMatch<TSubscriber>> results, DeliveryScope scope)
    {
        _exact.TryGetValue(topic, out var exact);
        Match(topic, exact, publisherId, results, scope);
    }

    /// <summary>
    /// <see cref="Match(string, string?, List{RouteMatch{TSubscriber}})"/> that remembers in <paramref name="memo"/>
    /// (a publisher's own, e.g. on its <c>ClientInfo</c>) what the exact-filter dictionary held for the topic, so the
    /// next publish to the same topic skips the lookup. With many exact filters that lookup is a few cache misses:
    /// 100k idle exact subscriptions made it 5 % of a fan-in's samples.
    /// </summary>
    /// <param name="memo">Null or what an earlier call left; replaced (never changed in place) when it does not apply.</param>
    public void Match(string topic, string? publisherId, List<RouteMatch<TSubscriber>> results, ref object? memo) =>
        Match(topic, ExactRoute(topic, ref memo), publisherId, results, null);

    private void Match(string topic, Route<TSubscriber>? exact, string? publisherId, List<RouteMatch<TSubscriber>> results, DeliveryScope? scope)
    {
        var scratch = _scratch ??= new MatchScratch<TSubscriber>();
        try
        {
            if (exact is not null)
                scratch.AddRoute(exact);
            _trie.Collect(topic, scratch);
            if (scratch.RouteCount == 0)
                return;
            var epoch = AuthorizationEpoch;
            if (scope is null || scope.Ordinary)
                AppendOrdinary(scratch, publisherId, epoch, results);
            // After the ordinary ones, always: the cluster finds this node's chosen share groups at the end.
            AppendShared(scratch, topic, publisherId, epoch, results, scope);
        }
        finally
        {
            scratch.Reset();
        }
    }

    /// <summary>
    /// The exact filter's route for <paramref name="topic"/>, from <paramref name="memo"/> when it was taken at the
    /// current version of the dictionary. The version changes after every add and removal, so a memo that matches it
    /// saw the dictionary as it is now (read before the lookup: a change during the lookup leaves an old version in
    /// the memo, which the next call refreshes). A route's subscribers change in place and are read through it.
    /// </summary>
    private Route<TSubscriber>? ExactRoute(string topic, ref object? memo)
    {
        var version = Volatile.Read(ref _exactVersion);
        if (memo is ExactRouteMemo known && known.Version == version && string.Equals(known.Topic, topic, StringComparison.Ordinal))
            return known.Route;
        _exact.TryGetValue(topic, out var route);
        memo = new ExactRouteMemo(topic, version, route);
        return route;
    }

    /// <summary>Immutable: a client's memo may be read by another thread publishing on its behalf meanwhile.</summary>
    private sealed record ExactRouteMemo(string Topic, long Version, Route<TSubscriber>? Route);

    private static void AppendOrdinary(MatchScratch<TSubscriber> scratch, string? publisherId, long epoch, List<RouteMatch<TSubscriber>> results)
    {
        var routes = scratch.Routes;
        var routeCount = scratch.RouteCount;
        var withSubscribers = 0;
        var single = -1;
        var candidates = 0;
        for (var i = 0; i < routeCount; i++)
        {
            var count = routes[i].Subscribers.Count;
            if (count == 0)
                continue;
            withSubscribers++;
            single = i;
            candidates += count;
        }
        if (withSubscribers == 0)
            return;

        if (withSubscribers == 1)
        {
            foreach (var subscription in routes[single].Subscribers.Items)
            {
                if (subscription is not null && !IsLocalExcluded(subscription, publisherId))
                    results.Add(NewMatch(subscription, group: null, epoch));
            }
            return;
        }

        var start = results.Count;
        var index = candidates > LinearScanLimit ? scratch.Index : null;
        for (var i = 0; i < routeCount; i++)
        {
            foreach (var subscription in routes[i].Subscribers.Items)
            {
                if (subscription is null || IsLocalExcluded(subscription, publisherId))
                    continue;
                var at = index is null
                    ? FindFrom(results, start, subscription.Subscriber)
                    : index.GetValueOrDefault(subscription.Subscriber, -1);
                if (at < 0)
                {
                    index?.Add(subscription.Subscriber, results.Count);
                    results.Add(NewMatch(subscription, group: null, epoch));
                }
                else
                {
                    Merge(ref CollectionsMarshal.AsSpan(results)[at], subscription, epoch);
                }
            }
        }
    }

    private void AppendShared(
        MatchScratch<TSubscriber> scratch, string topic, string? publisherId, long epoch, List<RouteMatch<TSubscriber>> results, DeliveryScope? scope)
    {
        var routes = scratch.Routes;
        var routeCount = scratch.RouteCount;
        for (var i = 0; i < routeCount; i++)
        {
            foreach (var group in routes[i].Groups)
            {
                var members = group.Members;
                if (members.Length == 0 || (scope is not null && !scope.Includes(group.Name, group.Filter)))
                    continue;
                results.Add(NewMatch(Choose(group, members, topic, publisherId), group, epoch));
            }
        }
    }

    /// <summary>
    /// One member of a share group. Connected members are preferred; when none is connected any member is chosen, so
    /// a persistent session still queues the message.
    /// </summary>
    private Subscription<TSubscriber> Choose(ShareGroup<TSubscriber> group, Subscription<TSubscriber>[] members, string topic, string? publisherId)
    {
        if (_strategy == SharedSubscriptionStrategy.Sticky
            && group.Sticky is { IsRemoved: false } sticky
            && (sticky.Subscriber.IsConnected || !AnyConnected(members)))
        {
            return sticky;
        }
        if (members.Length == 1)
        {
            if (_strategy == SharedSubscriptionStrategy.Sticky)
                group.Sticky = members[0];
            return members[0];
        }

        var connected = 0;
        foreach (var member in members)
        {
            if (member.Subscriber.IsConnected)
                connected++;
        }
        var onlyConnected = connected > 0;
        var candidates = onlyConnected ? connected : members.Length;

        switch (_strategy)
        {
            case SharedSubscriptionStrategy.RoundRobin:
            {
                var ticket = group.TakeTicket();
                var first = (int)(ticket % (uint)members.Length);
                for (var skipped = 0; skipped < members.Length; skipped++)
                {
                    var member = members[(first + skipped) % members.Length];
                    if (!onlyConnected || member.Subscriber.IsConnected)
                    {
                        if (skipped > 0)
                            group.SkipAfter(ticket, skipped);
                        return member;
                    }
                }
                return members[first];
            }
            case SharedSubscriptionStrategy.Sticky:
            {
                var chosen = NthCandidate(members, NextRandom(candidates), onlyConnected);
                group.Sticky = chosen;
                return chosen;
            }
            case SharedSubscriptionStrategy.HashClientId:
                return NthCandidate(members, (int)(Fnv1a(publisherId ?? "") % (uint)candidates), onlyConnected);
            case SharedSubscriptionStrategy.HashTopic:
                return NthCandidate(members, (int)(Fnv1a(topic) % (uint)candidates), onlyConnected);
            default:
                return NthCandidate(members, NextRandom(candidates), onlyConnected);
        }
    }

    private int NextRandom(int maxExclusive)
    {
        if (_random is null)
            return Random.Shared.Next(maxExclusive);
        lock (_randomLock)
            return _random.Next(maxExclusive);
    }

    private static bool AnyConnected(Subscription<TSubscriber>[] members)
    {
        foreach (var member in members)
        {
            if (member.Subscriber.IsConnected)
                return true;
        }
        return false;
    }

    private static Subscription<TSubscriber> NthCandidate(Subscription<TSubscriber>[] members, int n, bool onlyConnected)
    {
        if (!onlyConnected)
            return members[n];
        foreach (var member in members)
        {
            // A member may disconnect between counting and here: then fall through to the last one seen.
            if (member.Subscriber.IsConnected && n-- == 0)
                return member;
        }
        return members[^1];
    }

    /// <summary>FNV-1a over the UTF-16 code units: stable across processes, unlike string.GetHashCode.</summary>
    private static uint Fnv1a(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 16777619u;
        }
        return hash;
    }

    private static bool IsLocalExcluded(Subscription<TSubscriber> subscription, string? publisherId) =>
        subscription.Options.NoLocal
        && publisherId is not null
        && string.Equals(subscription.Subscriber.ClientId, publisherId, StringComparison.Ordinal);

    private static int FindFrom(List<RouteMatch<TSubscriber>> results, int start, TSubscriber subscriber)
    {
        var span = CollectionsMarshal.AsSpan(results);
        for (var i = start; i < span.Length; i++)
        {
            if (ReferenceEquals(span[i].Subscriber, subscriber))
                return i;
        }
        return -1;
    }

    /// <summary>The delivery to <paramref name="member"/> of a share group, chosen outside <see cref="Match(string, string?, List{RouteMatch{TSubscriber}})"/> and already authorized.</summary>
    public static RouteMatch<TSubscriber> MatchOf(Subscription<TSubscriber> member)
    {
        var match = NewMatch(member, member.Group, epoch: 0);
        match.CheckDelivery = false;
        return match;
    }

    private static RouteMatch<TSubscriber> NewMatch(Subscription<TSubscriber> subscription, ShareGroup<TSubscriber>? group, long epoch)
    {
        var options = subscription.Options;
        return new RouteMatch<TSubscriber>
        {
            Subscriber = subscription.Subscriber,
            Qos = options.Qos,
            RetainAsPublished = options.RetainAsPublished,
            SubscriptionIdentifiers = options.SubscriptionIdentifier != 0 ? [options.SubscriptionIdentifier] : null,
            Group = group,
            CheckDelivery = DeliveryAuthorization.IsNeeded(subscription.Authorization, epoch),
        };
    }

    private static void Merge(ref RouteMatch<TSubscriber> match, Subscription<TSubscriber> subscription, long epoch)
    {
        // One subscription that may receive every topic of its filter is enough: the same rules allow this topic.
        match.CheckDelivery &= DeliveryAuthorization.IsNeeded(subscription.Authorization, epoch);
        var options = subscription.Options;
        if (options.Qos > match.Qos)
            match.Qos = options.Qos;
        match.RetainAsPublished |= options.RetainAsPublished;
        var id = options.SubscriptionIdentifier;
        if (id == 0)
            return;
        if (match.SubscriptionIdentifiers is null)
            match.SubscriptionIdentifiers = [id];
        else if (!match.SubscriptionIdentifiers.Contains(id))
            match.SubscriptionIdentifiers.Add(id);
    }
}
