namespace Broker.Protocol;

/// <summary>
/// Thrown by the codec for input that breaks a rule of the spec. <see cref="ReasonCode"/> is what an MQTT 5
/// DISCONNECT (or CONNACK, before the connection is accepted) carries: <see cref="MqttReasonCode.MalformedPacket"/>,
/// <see cref="MqttReasonCode.ProtocolError"/>, <see cref="MqttReasonCode.PacketTooLarge"/>,
/// <see cref="MqttReasonCode.UnsupportedProtocolVersion"/>, <see cref="MqttReasonCode.TopicAliasInvalid"/> ...
/// The connection that sent it is closed; nothing else is affected.
/// </summary>
public sealed class MqttProtocolException(MqttReasonCode reasonCode, string message) : Exception(message)
{
    public MqttReasonCode ReasonCode { get; } = reasonCode;

    /// <summary>
    /// For a CONNECT whose protocol level is unsupported: the version the CONNACK should be written in, so the
    /// client can read the refusal (3.1.1 return code 0x01 / 5.0 reason code 0x84).
    /// </summary>
    public MqttProtocolVersion ResponseVersion { get; init; }
}
