using System.Buffers;
using Broker.Bench.Scenarios;
using Broker.Protocol;

namespace Broker.Bench.Tests.Scenarios;

/// <summary>--idle-subscriptions: how the filters are named, spread over connections and packed into SUBSCRIBEs.</summary>
public sealed class IdleSubscriptionsTests
{
    [Theory]
    [InlineData(100_000, 100)]
    [InlineData(20_000, 100)]
    [InlineData(2_000, 7)]
    [InlineData(5, 100)]
    public void Filters_EveryConnectionTogether_ExactlyNDistinctValidFilters(int subscriptions, int connections)
    {
        var k = IdleSubscriptions.ConnectionCount(subscriptions, connections);
        Assert.Equal(Math.Min(subscriptions, connections), k);
        var perConnection = Enumerable.Range(0, k).Select(c => IdleSubscriptions.Filters("r1", c, k, subscriptions)).ToList();

        var all = perConnection.SelectMany(f => f).ToList();
        Assert.Equal(subscriptions, all.Count);
        Assert.Equal(subscriptions, all.Distinct(StringComparer.Ordinal).Count());
        Assert.All(all, f => Assert.True(MqttTopic.IsValidTopicFilter(f), f));
        // Spread evenly: no connection holds more than one filter more than another, none holds none.
        Assert.InRange(perConnection.Max(f => f.Count) - perConnection.Min(f => f.Count), 0, 1);
        Assert.All(perConnection, f => Assert.NotEmpty(f));
        for (var c = 0; c < k; c++)
            Assert.All(perConnection[c], f => Assert.StartsWith($"idle/r1/{c}/", f, StringComparison.Ordinal));
    }

    [Fact]
    public void Filters_MostlyExact_WithSingleAndMultiLevelWildcards()
    {
        var filters = IdleSubscriptions.Filters("r1", 0, 1, 10_000);
        Assert.Equal(9_000, filters.Count(f => !MqttTopic.HasWildcard(f)));
        Assert.Equal(900, filters.Count(f => f.Contains('+', StringComparison.Ordinal)));
        Assert.Equal(100, filters.Count(f => f.EndsWith("/#", StringComparison.Ordinal)));
        Assert.Equal("idle/r1/0/0", filters[0]);
        Assert.Equal("idle/r1/0/+/90", filters[90]);
        Assert.Equal("idle/r1/0/99/#", filters[99]);
    }

    [Theory]
    [InlineData("bench/r1/fanin/0")]
    [InlineData("bench/r1/fanout")]
    [InlineData("bench/r1/p2p/17")]
    [InlineData("idle/r2/0/0")]
    public void Filters_MatchNoTrafficTopicNorAnotherRunsTopic(string topic)
    {
        var filters = Enumerable.Range(0, 3).SelectMany(c => IdleSubscriptions.Filters("r1", c, 3, 3_000));
        Assert.DoesNotContain(filters, f => MqttTopic.Matches(f, topic));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SubscribeSize_EqualsWhatTheCodecWrites(bool v5)
    {
        var version = v5 ? MqttProtocolVersion.V500 : MqttProtocolVersion.V311;
        foreach (var count in new[] { 1, 3, 40, 5_000 })
        {
            var filters = IdleSubscriptions.Filters("abcdef01", 3, 10, count * 10);
            Assert.Equal(Encode(filters, version).Length, IdleSubscriptions.SubscribeSize(filters, v5));
        }
    }

    [Theory]
    [InlineData(false, 16 * 1024)]
    [InlineData(true, 16 * 1024)]
    [InlineData(false, 200)]
    [InlineData(true, 127)] // a packet whose Remaining Length is right at the 1-byte/2-byte boundary
    public void Batches_EachFitsTheLimit_FullAndInOrder(bool v5, int limit)
    {
        var version = v5 ? MqttProtocolVersion.V500 : MqttProtocolVersion.V311;
        var filters = IdleSubscriptions.Filters("abcdef01", 42, 100, 100_000);

        var batches = IdleSubscriptions.Batches(filters, limit, v5);

        Assert.Equal(filters, batches.SelectMany(b => b));
        for (var i = 0; i < batches.Count; i++)
        {
            Assert.NotEmpty(batches[i]);
            var size = Encode(batches[i], version).Length;
            Assert.True(size <= limit, $"batch {i}: {size} bytes > {limit}");
            // Greedy: the next batch's first filter would not have fitted.
            if (i + 1 < batches.Count)
                Assert.True(IdleSubscriptions.SubscribeSize([.. batches[i], batches[i + 1][0]], v5) > limit);
        }
    }

    [Fact]
    public void Batches_16Kb_ManyFiltersPerPacket()
    {
        var filters = IdleSubscriptions.Filters("abcdef01", 0, 100, 100_000);
        var batches = IdleSubscriptions.Batches(filters, IdleSubscriptions.DefaultMaxPacketSize, v5: false);
        // ~20-byte filters, ~23 bytes each on the wire: a handful of packets for 1000 filters, not 1000 packets.
        Assert.InRange(batches.Count, 2, 3);
    }

    [Fact]
    public void Batches_FilterLargerThanTheLimit_StillSentAloneForTheBrokerToJudge()
    {
        var batches = IdleSubscriptions.Batches(["a", new string('x', 300), "b"], 100, v5: false);
        Assert.Equal(3, batches.Count);
        Assert.Equal(new string('x', 300), Assert.Single(batches[1]));
    }

    [Fact]
    public void Batches_None_NoPackets() => Assert.Empty(IdleSubscriptions.Batches([], 100, v5: true));

    private static byte[] Encode(IEnumerable<string> filters, MqttProtocolVersion version)
    {
        var packet = new MqttSubscribePacket { PacketId = 7 };
        foreach (var filter in filters)
            packet.Subscriptions.Add(new MqttTopicSubscription(filter, MqttQos.AtMostOnce));
        var writer = new ArrayBufferWriter<byte>();
        MqttPacketWriter.Write(writer, packet, version);
        return writer.WrittenSpan.ToArray();
    }
}
