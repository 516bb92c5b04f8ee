using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Routing;
using Broker.Protocol;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Broker.Core.Tests.Routing;

/// <summary>The router against brute-force models built on <see cref="MqttTopic.Matches"/>.</summary>
public sealed class RouterPropertyTests
{
    // Few distinct level texts so that random filters and topics collide often; "" gives empty levels, "$x" $-levels.
    private static readonly Gen<string> TopicLevel = Gen.Elements("a", "b", "$x", "");

    private static readonly Gen<string> Filter =
        from count in Gen.Choose(0, 4)
        from levels in Gen.ArrayOf(Gen.Frequency((3, TopicLevel), (1, Gen.Constant("+"))), count)
        from multi in Gen.Elements(false, true)
        select MakeFilter(levels, multi);

    private static readonly Gen<string> Topic =
        from count in Gen.Choose(1, 4)
        from levels in Gen.ArrayOf(TopicLevel, count)
        select string.Join('/', levels) is { Length: > 0 } topic ? topic : "/";

    private static string MakeFilter(string[] levels, bool multi)
    {
        var filter = string.Join('/', multi ? [.. levels, "#"] : levels);
        return filter.Length == 0 ? "#" : filter;
    }

    public sealed record MatchCase(string[] Filters, bool[] Removed, string[] Topics)
    {
        public override string ToString() =>
            $"filters [{string.Join(", ", Filters)}] removed [{string.Join(", ", Removed)}] topics [{string.Join(", ", Topics)}]";
    }

    [Fact]
    public void Match_AgreesWithBruteForce_ForRandomFiltersAndTopics()
    {
        var cases =
            from filters in Gen.ListOf(Filter).Select(l => l.ToArray())
            from removed in Gen.ArrayOf(Gen.Elements(false, false, true), filters.Length)
            from topics in Gen.NonEmptyListOf(Topic).Select(l => l.ToArray())
            select new MatchCase(filters, removed, topics);

        Prop.ForAll(cases.ToArbitrary(), CheckMatchCase).QuickCheckThrowOnFailure();
    }

    private static void CheckMatchCase(MatchCase c)
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var ordinary = new TestSubscriber[c.Filters.Length];
        var shared = new TestSubscriber[c.Filters.Length];
        for (var i = 0; i < c.Filters.Length; i++)
        {
            ordinary[i] = new TestSubscriber("o" + i);
            shared[i] = new TestSubscriber("s" + i);
            Assert.True(router.Subscribe(ordinary[i], c.Filters[i], new SubscriptionOptions(MqttQos.AtMostOnce)));
            // One group per index, so each (group, filter) has exactly one member and the choice is determined.
            Assert.True(router.Subscribe(shared[i], $"$share/g{i}/{c.Filters[i]}", new SubscriptionOptions(MqttQos.AtMostOnce)));
        }
        for (var i = 0; i < c.Filters.Length; i++)
        {
            if (c.Removed[i])
            {
                Assert.True(router.Unsubscribe(ordinary[i], c.Filters[i]));
                Assert.True(router.Unsubscribe(shared[i], $"$share/g{i}/{c.Filters[i]}"));
            }
        }

        var results = new List<RouteMatch<TestSubscriber>>();
        foreach (var topic in c.Topics)
        {
            results.Clear();
            router.Match(topic, null, results);
            var expected = new SortedSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < c.Filters.Length; i++)
            {
                if (!c.Removed[i] && MqttTopic.Matches(c.Filters[i], topic))
                {
                    expected.Add("o" + i);
                    expected.Add("s" + i);
                }
            }
            var actual = new List<string>();
            foreach (var match in results)
            {
                var isShared = match.Subscriber.ClientId[0] == 's';
                Assert.Equal(isShared, match.ShareGroup is not null);
                actual.Add(match.Subscriber.ClientId);
            }
            actual.Sort(StringComparer.Ordinal);
            Assert.Equal(expected, actual); // equal as sequences: also proves no subscriber appears twice
        }

        var live = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < c.Filters.Length; i++)
        {
            if (!c.Removed[i])
                live.Add(c.Filters[i]);
        }
        Assert.Equal(live.Count, router.RouteCount);

        for (var i = 0; i < c.Filters.Length; i++)
        {
            if (!c.Removed[i])
            {
                Assert.True(router.Unsubscribe(ordinary[i], c.Filters[i]));
                Assert.True(router.Unsubscribe(shared[i], $"$share/g{i}/{c.Filters[i]}"));
            }
        }
        Assert.Equal(0, router.SubscriptionCount);
        Assert.Equal(0, router.RouteCount);
        Assert.Equal(0, router.TrieNodeCount);
    }

    public sealed record Sub(int Subscriber, string Filter, MqttQos Qos, bool NoLocal, bool RetainAsPublished, uint Id)
    {
        public override string ToString() => $"c{Subscriber}:{Filter}:q{(int)Qos}{(NoLocal ? ":nl" : "")}{(RetainAsPublished ? ":rap" : "")}:id{Id}";
    }

    public sealed record AggregationCase(int Subscribers, Sub[] Subscriptions, string Topic, string? Publisher)
    {
        public override string ToString() =>
            $"{Subscribers} subscribers, [{string.Join(", ", (IEnumerable<Sub>)Subscriptions)}], topic {Topic}, publisher {Publisher ?? "null"}";
    }

    [Fact]
    public void Match_AggregatesPerSubscriber_LikeBruteForce()
    {
        // A small filter space over "a"/"b" so that one subscriber often has several matching filters; up to 30
        // subscribers and 80 subscriptions crosses the router's switch from linear scan to index.
        var level = Gen.Elements("a", "b");
        var filter =
            from count in Gen.Choose(0, 3)
            from levels in Gen.ArrayOf(Gen.Frequency((2, level), (1, Gen.Constant("+"))), count)
            from multi in Gen.Elements(false, true)
            select MakeFilter(levels, multi);
        var topic =
            from count in Gen.Choose(1, 3)
            from levels in Gen.ArrayOf(level, count)
            select string.Join('/', levels);
        var cases =
            from subscribers in Gen.Choose(1, 30)
            from count in Gen.Choose(0, 80)
            from subscriptions in Gen.ArrayOf(
                from s in Gen.Choose(0, subscribers - 1)
                from f in filter
                from q in Gen.Choose(0, 2)
                from nl in Gen.Elements(false, false, true)
                from rap in Gen.Elements(false, true)
                from id in Gen.Choose(0, 3)
                select new Sub(s, f, (MqttQos)q, nl, rap, (uint)id),
                count)
            from t in topic
            from publisher in Gen.Elements<string?>(null, "c0", "c1", "other")
            select new AggregationCase(subscribers, subscriptions, t, publisher);

        Prop.ForAll(cases.ToArbitrary(), CheckAggregationCase).QuickCheckThrowOnFailure();
    }

    private static void CheckAggregationCase(AggregationCase c)
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.Random, new Random(1));
        var subscribers = new TestSubscriber[c.Subscribers];
        for (var i = 0; i < subscribers.Length; i++)
            subscribers[i] = new TestSubscriber("c" + i);

        // Model: the last options per (subscriber, filter) win, as SUBSCRIBE replaces.
        var model = new Dictionary<(int, string), Sub>();
        foreach (var s in c.Subscriptions)
        {
            var isNew = router.Subscribe(
                subscribers[s.Subscriber],
                s.Filter,
                new SubscriptionOptions(s.Qos, s.NoLocal, s.RetainAsPublished, SubscriptionIdentifier: s.Id));
            Assert.Equal(!model.ContainsKey((s.Subscriber, s.Filter)), isNew);
            model[(s.Subscriber, s.Filter)] = s;
        }
        Assert.Equal(model.Count, router.SubscriptionCount);

        var expected = new Dictionary<int, (MqttQos Qos, bool Rap, SortedSet<uint> Ids)>();
        foreach (var s in model.Values)
        {
            if (!MqttTopic.Matches(s.Filter, c.Topic) || (s.NoLocal && c.Publisher == "c" + s.Subscriber))
                continue;
            var e = expected.TryGetValue(s.Subscriber, out var found) ? found : (Qos: MqttQos.AtMostOnce, Rap: false, Ids: new SortedSet<uint>());
            if (s.Id != 0)
                e.Ids.Add(s.Id);
            expected[s.Subscriber] = ((MqttQos)Math.Max((int)e.Qos, (int)s.Qos), e.Rap | s.RetainAsPublished, e.Ids);
        }

        var results = new List<RouteMatch<TestSubscriber>>();
        router.Match(c.Topic, c.Publisher, results);

        Assert.Equal(expected.Count, results.Count);
        foreach (var match in results)
        {
            Assert.Null(match.ShareGroup);
            var index = Array.IndexOf(subscribers, match.Subscriber);
            Assert.True(expected.Remove(index, out var e), $"unexpected or duplicate delivery to c{index}");
            Assert.Equal(e.Qos, match.Qos);
            Assert.Equal(e.Rap, match.RetainAsPublished);
            if (e.Ids.Count == 0)
            {
                Assert.Null(match.SubscriptionIdentifiers);
            }
            else
            {
                var ids = match.SubscriptionIdentifiers!.ToArray();
                Array.Sort(ids);
                Assert.Equal(e.Ids, ids);
            }
        }
    }
}
