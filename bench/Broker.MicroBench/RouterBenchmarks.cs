using System.Globalization;
using BenchmarkDotNet.Attributes;
using Broker.Abstractions.Hooks;
using Broker.Core.Routing;

namespace Broker.MicroBench;

/// <summary>
/// <see cref="Router{TSubscriber}.Match"/> against 1k, 100k and 1M subscriptions: 90 % exact filters
/// (<c>dev/{i}/temp</c>), 9 % single-level wildcards (<c>dev/{i}/+/status</c>) and 1 % multi-level
/// (<c>region/{i}/#</c>), one subscription per filter, spread over 1000 subscribers. Each call matches the next of
/// 1024 random topics of three shapes (<c>dev/{n}/temp</c>, <c>dev/{n}/sensor/status</c>, <c>region/{n}/a/b</c>), so
/// it finds at most one subscription: the cost measured is the lookup, not the fan-out.
/// </summary>
public class RouterBenchmarks
{
    private readonly List<RouteMatch<BenchSubscriber>> _results = new(16);
    private Router<BenchSubscriber> _router = null!;
    private string[] _topics = [];
    private int _next;

    [Params(1_000, 100_000, 1_000_000)]
    public int Filters { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _router = new Router<BenchSubscriber>(SharedSubscriptionStrategy.Random);
        var subscribers = new BenchSubscriber[1000];
        for (var i = 0; i < subscribers.Length; i++)
            subscribers[i] = new BenchSubscriber("c" + i.ToString(CultureInfo.InvariantCulture));
        var options = new SubscriptionOptions(MqttQos.AtMostOnce);
        for (var i = 0; i < Filters; i++)
        {
            var n = i.ToString(CultureInfo.InvariantCulture);
            var filter = (i % 100) switch
            {
                0 => "region/" + n + "/#",
                < 10 => "dev/" + n + "/+/status",
                _ => "dev/" + n + "/temp",
            };
            _router.Subscribe(subscribers[i % subscribers.Length], filter, options);
        }
        var random = new Random(42);
        _topics = new string[1024];
        for (var i = 0; i < _topics.Length; i++)
        {
            var n = random.Next(Filters).ToString(CultureInfo.InvariantCulture);
            _topics[i] = (i % 3) switch
            {
                0 => "dev/" + n + "/temp",
                1 => "dev/" + n + "/sensor/status",
                _ => "region/" + n + "/a/b",
            };
        }
    }

    [Benchmark]
    public int Match()
    {
        var topic = _topics[_next++ & 1023];
        _router.Match(topic, null, _results);
        var count = _results.Count;
        _results.Clear();
        return count;
    }
}

/// <summary>A subscriber with nothing behind it: the router only needs identity and a client id.</summary>
internal sealed class BenchSubscriber(string clientId) : ISubscriber
{
    public string ClientId { get; } = clientId;

    public bool IsConnected => true;
}
