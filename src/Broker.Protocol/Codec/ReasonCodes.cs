namespace Broker.Protocol.Codec;

/// <summary>
/// Which MQTT 5 reason codes each packet may carry (the per-packet tables of chapter 3). The sender "MUST use one of"
/// them ([MQTT-3.2.2-8], [MQTT-3.4.2-1], [MQTT-3.5.2-1], [MQTT-3.6.2-1], [MQTT-3.7.2-1], [MQTT-3.9.3-2],
/// [MQTT-3.11.3-2], [MQTT-3.14.2-1], [MQTT-3.15.2-1]). Any other byte parses as a byte, so receiving one is data
/// "not allowed by the protocol": a Protocol Error (1.2), not a Malformed Packet.
/// </summary>
internal static class ReasonCodes
{
    private static bool IsDefined(MqttPacketType type, byte code) => type switch
    {
        // Table 3-1
        MqttPacketType.ConnAck => code is 0x00 or (>= 0x80 and <= 0x8A) or 0x8C or 0x90 or 0x95 or 0x97 or 0x99
            or 0x9A or 0x9B or 0x9C or 0x9D or 0x9F,
        // Tables 3-4 and 3-5
        MqttPacketType.PubAck or MqttPacketType.PubRec => code is 0x00 or 0x10 or 0x80 or 0x83 or 0x87 or 0x90 or 0x91
            or 0x97 or 0x99,
        // Tables 3-6 and 3-7
        MqttPacketType.PubRel or MqttPacketType.PubComp => code is 0x00 or 0x92,
        // Table 3-8
        MqttPacketType.SubAck => code is 0x00 or 0x01 or 0x02 or 0x80 or 0x83 or 0x87 or 0x8F or 0x91 or 0x97 or 0x9E
            or 0xA1 or 0xA2,
        // Table 3-9
        MqttPacketType.UnsubAck => code is 0x00 or 0x11 or 0x80 or 0x83 or 0x87 or 0x8F or 0x91,
        // Table 3-10
        MqttPacketType.Disconnect => code is 0x00 or 0x04 or 0x80 or 0x81 or 0x82 or 0x83 or 0x87 or 0x89
            or (>= 0x8B and <= 0x90) or (>= 0x93 and <= 0xA2),
        // Table 3-11
        MqttPacketType.Auth => code is 0x00 or 0x18 or 0x19,
        _ => false,
    };

    /// <summary>Reads one reason code of <paramref name="type"/>; an undefined one is a Protocol Error.</summary>
    public static MqttReasonCode Read(ref WireReader r, MqttPacketType type)
    {
        var code = r.ReadByte();
        if (!IsDefined(type, code))
            CodecErrors.ProtocolError($"0x{code:X2} is not a {type} reason code (2.4, 1.2 Protocol Error)");
        return (MqttReasonCode)code;
    }
}
