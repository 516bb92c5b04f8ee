using System.Diagnostics;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.Listeners;

/// <summary>max_conn_rate and the per-connection inbound limits: they slow clients down, they never drop.</summary>
public sealed class ListenerLimitTests
{
    [Fact]
    public async Task ConnMessagesIn_10PerSecond_30QoS1Messages_TakeAtLeastTwoSecondsAndAllArrive()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["listener.tcp.external.rate_limit.conn_messages_in"] = "10,1s");
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-t", "limited/t", "-q", "1");
        var lines = Enumerable.Range(0, 30).Select(i => $"m{i}").ToArray();

        var clock = Stopwatch.StartNew();
        await MosquittoClients.PublishAsync(broker, ["-t", "limited/t", "-q", "1"], lines);
        var messages = await MosquittoClients.MessagesAsync(sub, 30);
        clock.Stop();

        // A full bucket lets 10 through at once; the other 20 come at 10 per second.
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.8), $"30 messages at 10/s took only {clock.Elapsed}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
        Assert.Equal(lines, messages.Select(m => m.Payload).ToArray());
    }

    [Fact]
    public async Task ConnBytesIn_1KBPerSecond_ThreeAndAHalfKB_TakeAtLeastTwoSecondsAndAllArrive()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["listener.tcp.external.rate_limit.conn_bytes_in"] = "1KB,1s");
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-t", "bytes/t", "-q", "1");
        // 30 PUBLISH packets of about 115 bytes each: 1 KB passes at once, the other ~2.4 KB at 1 KB per second.
        var lines = Enumerable.Range(0, 30).Select(i => $"{i:D2}" + new string('x', 98)).ToArray();

        var clock = Stopwatch.StartNew();
        await MosquittoClients.PublishAsync(broker, ["-t", "bytes/t", "-q", "1"], lines);
        var messages = await MosquittoClients.MessagesAsync(sub, 30);
        clock.Stop();

        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.8), $"3.4 KB at 1 KB/s took only {clock.Elapsed}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
        Assert.Equal(lines, messages.Select(m => m.Payload).ToArray());
    }

    [Fact]
    public async Task MaxConnRate_5PerSecond_20Connects_SpreadOverThreeSecondsAndAllSucceed()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["listener.tcp.external.max_conn_rate"] = "5");

        var clock = Stopwatch.StartNew();
        var connects = Enumerable.Range(0, 20).Select(async i =>
        {
            await using var client = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket($"rate-{i}"));
            return clock.Elapsed;
        }).ToArray();
        var times = await Task.WhenAll(connects);

        // 5 at once (a full bucket), then 15 more at 5 per second: about 3 s, none refused.
        Assert.True(times.Max() >= TimeSpan.FromSeconds(2.7), $"20 connects at 5/s were done after {times.Max()}");
        Assert.True(times.Max() < TimeSpan.FromSeconds(20), $"took {times.Max()}");
    }
}
