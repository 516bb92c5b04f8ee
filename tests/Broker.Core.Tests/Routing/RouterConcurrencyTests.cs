using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Routing;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Routing;

public sealed class RouterConcurrencyTests
{
    private static readonly string[] Filters =
    [
        "a/b/c", "a/+/c", "a/#", "+/b/#", "#", "a/b", "$SYS/+", "x/y/z", "x/+/+", "+/+/+/+",
        "$share/g/a/+/c", "$share/g/a/#", "$share/h/#", "$queue/x/y/z",
    ];

    private static readonly string[] Topics = ["a/b/c", "a/b", "a", "x/y/z", "$SYS/uptime", "q/b/c/d", "a/q/c"];

    [Fact]
    public void SubscribeUnsubscribeWhileMatching_NoErrorsAndCorrectFinalState()
    {
        const int Writers = 4;
        const int Readers = 3;
        const int SubscribersPerWriter = 6;
        const int OperationsPerWriter = 20_000;

        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var models = new HashSet<(TestSubscriber, string)>[Writers];
        var subscribers = new TestSubscriber[Writers][];
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var writersLeft = Writers;
        var start = new Barrier(Writers + Readers);
        var threads = new List<Thread>();

        for (var w = 0; w < Writers; w++)
        {
            var writer = w;
            models[writer] = [];
            subscribers[writer] = new TestSubscriber[SubscribersPerWriter];
            for (var s = 0; s < SubscribersPerWriter; s++)
                subscribers[writer][s] = new TestSubscriber($"w{writer}s{s}");
            threads.Add(new Thread(() =>
            {
                try
                {
                    var random = new Random(writer);
                    var model = models[writer];
                    start.SignalAndWait();
                    for (var i = 0; i < OperationsPerWriter; i++)
                    {
                        var subscriber = subscribers[writer][random.Next(SubscribersPerWriter)];
                        var filter = Filters[random.Next(Filters.Length)];
                        if (random.Next(2) == 0)
                            Assert.Equal(model.Add((subscriber, filter)), router.Subscribe(subscriber, filter, new SubscriptionOptions(MqttQos.AtLeastOnce)));
                        else
                            Assert.Equal(model.Remove((subscriber, filter)), router.Unsubscribe(subscriber, filter));
                    }
                }
                catch (Exception e)
                {
                    errors.Enqueue(e);
                }
                finally
                {
                    Interlocked.Decrement(ref writersLeft);
                }
            }));
        }
        var matches = 0L;
        for (var r = 0; r < Readers; r++)
        {
            var reader = r;
            threads.Add(new Thread(() =>
            {
                try
                {
                    var results = new List<RouteMatch<TestSubscriber>>();
                    var i = reader;
                    start.SignalAndWait();
                    while (Volatile.Read(ref writersLeft) > 0)
                    {
                        results.Clear();
                        router.Match(Topics[i++ % Topics.Length], "w0s0", results);
                        foreach (var match in results)
                            Assert.NotNull(match.Subscriber);
                        Interlocked.Increment(ref matches);
                    }
                }
                catch (Exception e)
                {
                    errors.Enqueue(e);
                }
            }));
        }
        foreach (var thread in threads)
            thread.Start();
        foreach (var thread in threads)
            thread.Join();

        Assert.Empty(errors);
        Assert.True(matches > 0);

        // Final state equals the writers' models.
        var all = new List<(TestSubscriber Subscriber, string Filter)>();
        foreach (var model in models)
            all.AddRange(model);
        Assert.Equal(all.Count, router.SubscriptionCount);
        var routes = new HashSet<string>();
        foreach (var (_, filter) in all)
        {
            MqttTopic.TryParseShared(filter, out _, out var plain);
            routes.Add(plain);
        }
        Assert.Equal(routes.Count, router.RouteCount);

        var results = new List<RouteMatch<TestSubscriber>>();
        foreach (var topic in Topics)
        {
            results.Clear();
            router.Match(topic, null, results);
            var expectedOrdinary = new HashSet<TestSubscriber>();
            var expectedGroups = new HashSet<(string, string)>();
            foreach (var (subscriber, filter) in all)
            {
                var shared = MqttTopic.TryParseShared(filter, out var group, out var plain);
                if (!MqttTopic.Matches(plain, topic))
                    continue;
                if (shared)
                    expectedGroups.Add((group!, plain));
                else
                    expectedOrdinary.Add(subscriber);
            }
            var ordinary = results.Where(r => r.ShareGroup is null).Select(r => r.Subscriber).ToList();
            Assert.Equal(expectedOrdinary.Count, ordinary.Count);
            Assert.True(expectedOrdinary.SetEquals(ordinary));
            Assert.Equal(expectedGroups.Count, results.Count(r => r.ShareGroup is not null));
        }

        foreach (var (subscriber, filter) in all)
            Assert.True(router.Unsubscribe(subscriber, filter));
        Assert.Equal(0, router.SubscriptionCount);
        Assert.Equal(0, router.RouteCount);
        Assert.Equal(0, router.TrieNodeCount);
    }
}
