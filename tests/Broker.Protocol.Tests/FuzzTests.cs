using System.Buffers;
using System.Diagnostics;

namespace Broker.Protocol.Tests;

/// <summary>
/// Random and mutated input: the reader must return a packet, "need more", or throw <see cref="MqttProtocolException"/>
/// — never anything else, never hang. Whatever it accepts must survive a write/read round trip unchanged.
/// </summary>
public sealed class FuzzTests
{
    private static readonly MqttProtocolVersion[] ReadVersions =
        [MqttProtocolVersion.Unknown, MqttProtocolVersion.V310, MqttProtocolVersion.V311, MqttProtocolVersion.V500];

    [Fact]
    public void TryRead_RandomBytes_OnlyProtocolExceptionsOrPackets()
    {
        var rng = new Random(20261122);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = new byte[rng.Next(0, 80)];
            rng.NextBytes(bytes);
            if (bytes.Length > 1 && rng.Next(2) == 0)
                bytes[1] = (byte)(bytes.Length - 2 < 128 ? rng.Next(bytes.Length - 1) : bytes[1]); // plausible length
            ReadAll(bytes, ReadVersions[rng.Next(ReadVersions.Length)], rng.Next(3) == 0 ? rng.Next(1, 64) : 0, rng);
        }
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
    }

    [Fact]
    public void TryRead_MutatedValidPackets_OnlyProtocolExceptionsOrPackets()
    {
        var rng = new Random(42);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 20_000; i++)
        {
            var version = PacketFactory.Versions[rng.Next(PacketFactory.Versions.Length)];
            var packet = PacketFactory.Create(rng, version);
            var bytes = TestBuffers.Encode(packet, version).ToList();
            var mutations = rng.Next(1, 4);
            for (var m = 0; m < mutations && bytes.Count > 0; m++)
            {
                var at = rng.Next(bytes.Count);
                switch (rng.Next(6))
                {
                    case 0: bytes[at] ^= (byte)(1 << rng.Next(8)); break;
                    case 1: bytes[at] = (byte)rng.Next(256); break;
                    case 2: bytes.RemoveRange(at, bytes.Count - at); break;
                    case 3: bytes.Insert(at, (byte)rng.Next(256)); break;
                    case 4: bytes.RemoveAt(at); break;
                    default: // change a length: the Remaining Length, or a two-byte length somewhere
                        if (bytes.Count > 1 && rng.Next(2) == 0)
                            bytes[1] = (byte)rng.Next(256);
                        else if (at + 1 < bytes.Count)
                            bytes[at + 1] = (byte)(bytes[at + 1] + rng.Next(-3, 4));
                        break;
                }
            }
            var readVersion = packet is MqttConnectPacket && rng.Next(4) != 0 ? MqttProtocolVersion.Unknown : version;
            ReadAll([.. bytes], readVersion, 0, rng);
        }
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"took {clock.Elapsed}");
    }

    /// <summary>Reads packets until the reader wants more or refuses; checks each accepted packet round-trips.</summary>
    private static void ReadAll(byte[] bytes, MqttProtocolVersion version, int maxPacketSize, Random rng)
    {
        var buffer = rng.Next(2) == 0 ? new ReadOnlySequence<byte>(bytes) : TestBuffers.Segmented(bytes, rng.Next(1, 6));
        try
        {
            // Each successful read consumes at least 2 bytes, so this loop ends.
            while (MqttPacketReader.TryRead(ref buffer, version, maxPacketSize, out var packet))
            {
                var packetVersion = packet is MqttConnectPacket connect ? connect.ProtocolVersion : version;
                if (packetVersion == MqttProtocolVersion.Unknown)
                    throw new InvalidOperationException("a non-CONNECT packet was accepted before CONNECT");
                var again = TestBuffers.DecodeSingle(TestBuffers.Encode(packet, packetVersion),
                    packet is MqttConnectPacket ? MqttProtocolVersion.Unknown : packetVersion);
                Assert.Equal(PacketFactory.Describe(packet), PacketFactory.Describe(again));
                if (packet is MqttConnectPacket c)
                    version = c.ProtocolVersion;
            }
        }
        catch (MqttProtocolException e)
        {
            Assert.True(Enum.IsDefined(e.ReasonCode), $"reason code {e.ReasonCode}");
            Assert.True((byte)e.ReasonCode >= 0x80, $"reason code {e.ReasonCode} is not an error");
        }
    }
}
