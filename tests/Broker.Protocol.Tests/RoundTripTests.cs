using System.Buffers;
using FsCheck;
using FsCheck.Fluent;

namespace Broker.Protocol.Tests;

/// <summary>Write then read gives the packet back, for every packet type and version, however the bytes arrive.</summary>
public sealed class RoundTripTests
{
    // FsCheck draws the seed (and reports it on failure); the packet is built from it by PacketFactory.
    private static readonly Arbitrary<int> Seeds = Arb.From(Gen.Choose(0, int.MaxValue));

    private static Property ForAllSeeds(Action<int> check) => Prop.ForAll(Seeds, check);

    [Fact]
    public void WriteThenTryRead_RandomValidPackets_EqualFieldByField()
    {
        foreach (var version in PacketFactory.Versions)
        {
            ForAllSeeds(seed =>
            {
                var packet = PacketFactory.Create(new Random(seed), version);
                var bytes = TestBuffers.Encode(packet, version);
                Assert.Equal(bytes.Length, MqttPacketWriter.GetSize(packet, version));
                var readVersion = packet is MqttConnectPacket ? MqttProtocolVersion.Unknown : version;
                var decoded = TestBuffers.DecodeSingle(bytes, readVersion);
                Assert.Equal(PacketFactory.Describe(packet), PacketFactory.Describe(decoded));
            }).QuickCheckThrowOnFailure();
        }
    }

    [Fact]
    public void TryRead_EveryPrefixOfValidEncoding_ReturnsFalseAndLeavesBuffer()
    {
        foreach (var version in PacketFactory.Versions)
        {
            ForAllSeeds(seed =>
            {
                var packet = PacketFactory.Create(new Random(seed), version);
                var bytes = TestBuffers.Encode(packet, version);
                var readVersion = packet is MqttConnectPacket ? MqttProtocolVersion.Unknown : version;
                for (var length = 0; length < bytes.Length; length++)
                {
                    var prefix = new ReadOnlySequence<byte>(bytes, 0, length);
                    Assert.False(MqttPacketReader.TryRead(ref prefix, readVersion, 0, out var none));
                    Assert.Null(none);
                    Assert.Equal(length, prefix.Length);
                }
            }).QuickCheckThrowOnFailure();
        }
    }

    [Fact]
    public void TryRead_TwoPacketsBackToBack_BothDecodeInOrder()
    {
        foreach (var version in PacketFactory.Versions)
        {
            ForAllSeeds(seed =>
            {
                var rng = new Random(seed);
                var first = NonConnect(rng, version);
                var second = NonConnect(rng, version);
                var bytes = TestBuffers.Encode(first, version).Concat(TestBuffers.Encode(second, version)).ToArray();
                var buffer = new ReadOnlySequence<byte>(bytes);
                Assert.True(MqttPacketReader.TryRead(ref buffer, version, 0, out var a));
                Assert.True(MqttPacketReader.TryRead(ref buffer, version, 0, out var b));
                Assert.False(MqttPacketReader.TryRead(ref buffer, version, 0, out _));
                Assert.Equal(PacketFactory.Describe(first), PacketFactory.Describe(a));
                Assert.Equal(PacketFactory.Describe(second), PacketFactory.Describe(b));
            }).QuickCheckThrowOnFailure();
        }
    }

    [Fact]
    public void TryRead_MultiSegmentSequence_DecodesSameAsSingleSegment()
    {
        foreach (var version in PacketFactory.Versions)
        {
            ForAllSeeds(seed =>
            {
                var rng = new Random(seed);
                var packet = PacketFactory.Create(rng, version);
                var bytes = TestBuffers.Encode(packet, version);
                var readVersion = packet is MqttConnectPacket ? MqttProtocolVersion.Unknown : version;
                var sequence = TestBuffers.Segmented(bytes, rng.Next(1, 8));
                Assert.True(MqttPacketReader.TryRead(ref sequence, readVersion, 0, out var decoded));
                Assert.Equal(0, sequence.Length);
                Assert.Equal(PacketFactory.Describe(packet), PacketFactory.Describe(decoded));
            }).QuickCheckThrowOnFailure();
        }
    }

    [Fact]
    public void Write_LargePublishToStingyWriter_SameBytesAsContiguousAndDecodes()
    {
        foreach (var version in PacketFactory.Versions)
        {
            var packet = PacketFactory.Publish(new Random(7), version);
            var payload = new byte[200_000];
            new Random(8).NextBytes(payload);
            packet.Payload = payload;
            if (packet.Properties is not null)
                packet.Properties = packet.Properties with { PayloadFormatIndicator = null };
            var stingy = new StingyBufferWriter();
            MqttPacketWriter.Write(stingy, packet, version);
            var contiguous = TestBuffers.Encode(packet, version);
            Assert.Equal(contiguous, stingy.WrittenBytes);
            // The head, then the payload asked for whole: a writer that keeps one buffer grows it once, not by
            // doubling it byte after byte (which copies the payload again).
            Assert.Equal(2, stingy.GetSpanCalls);
            var segmented = new StingyBufferWriter(maxSpan: 4096);
            MqttPacketWriter.Write(segmented, packet, version);
            Assert.Equal(contiguous, segmented.WrittenBytes);
            Assert.Equal(contiguous.Length, MqttPacketWriter.GetSize(packet, version));
            var sequence = TestBuffers.Segmented(contiguous, 4096);
            Assert.True(MqttPacketReader.TryRead(ref sequence, version, 0, out var decoded));
            Assert.Equal(PacketFactory.Describe(packet), PacketFactory.Describe(decoded));
        }
    }

    [Fact] // guards the generator: the round-trip properties above only mean something if every type is drawn
    public void PacketFactory_ManySeeds_CoversEveryPacketTypeOfEachVersion()
    {
        foreach (var version in PacketFactory.Versions)
        {
            var seen = new HashSet<MqttPacketType>();
            var rng = new Random(1);
            for (var i = 0; i < 1000; i++)
                seen.Add(PacketFactory.Create(rng, version).Type);
            Assert.Equal(version == MqttProtocolVersion.V500 ? 15 : 14, seen.Count);
        }
    }

    [Fact]
    public void TryRead_PingPackets_ReturnSharedInstances()
    {
        var req = TestBuffers.DecodeSingle([0xC0, 0x00], MqttProtocolVersion.V311);
        var resp = TestBuffers.DecodeSingle([0xD0, 0x00], MqttProtocolVersion.V500);
        Assert.Same(MqttPingReqPacket.Instance, req);
        Assert.Same(MqttPingRespPacket.Instance, resp);
    }

    private static MqttPacket NonConnect(Random rng, MqttProtocolVersion version)
    {
        while (true)
        {
            var packet = PacketFactory.Create(rng, version);
            if (packet is not MqttConnectPacket)
                return packet;
        }
    }
}
