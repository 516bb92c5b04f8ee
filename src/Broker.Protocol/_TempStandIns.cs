// TEMPORARY stand-in for the codec being written on another branch; deleted when it is merged.
using System.Buffers;
using System.Diagnostics.CodeAnalysis;
namespace Broker.Protocol;
public static class MqttPacketReader
{
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, MqttProtocolVersion version, int maxPacketSize, [NotNullWhen(true)] out MqttPacket? packet) => throw new NotImplementedException();
}
public static class MqttPacketWriter
{
    public static void Write(IBufferWriter<byte> output, MqttPacket packet, MqttProtocolVersion version) => throw new NotImplementedException();
    public static int GetSize(MqttPacket packet, MqttProtocolVersion version) => throw new NotImplementedException();
}
