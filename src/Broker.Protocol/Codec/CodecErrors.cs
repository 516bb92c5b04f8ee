using System.Diagnostics.CodeAnalysis;

namespace Broker.Protocol.Codec;

/// <summary>Throw helpers: keep the throwing code out of the decoders so their hot paths stay small.</summary>
internal static class CodecErrors
{
    [DoesNotReturn]
    public static void Malformed(string message) =>
        throw new MqttProtocolException(MqttReasonCode.MalformedPacket, message);

    [DoesNotReturn]
    public static void ProtocolError(string message) =>
        throw new MqttProtocolException(MqttReasonCode.ProtocolError, message);

    [DoesNotReturn]
    public static void Throw(MqttReasonCode reasonCode, string message) =>
        throw new MqttProtocolException(reasonCode, message);
}
