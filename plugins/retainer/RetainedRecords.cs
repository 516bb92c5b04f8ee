using System.Text;

namespace Broker.Plugins.Retainer;

/// <summary>
/// The binary records of the retainer's files (see README.md, "Storage format"): each record is a little-endian
/// int32 body length then the body, so a record torn by a crash is recognised (too short) and the file is used up
/// to the last whole record.
/// </summary>
/// <remarks>
/// Body of a set: <c>1</c>, then the message in the SDK's <see cref="BrokerMessageCodec"/> form (topic included). A
/// delete: <c>2</c>, topic. Files of the first format (<c>RETSNAP1</c>/<c>RETLOG01</c>, before SDK 1.4), whose set
/// body carried the message in a form of the retainer's own, are still read, so a broker upgraded over a
/// <c>storage_type = disc</c> store keeps its retained messages; the start after the upgrade rewrites them in the
/// current format (compaction) and nothing writes the old one.
/// </remarks>
internal static class RetainedRecords
{
    /// <summary>First bytes of data/plugins/retainer/retained.snapshot, followed by the writer's run id.</summary>
    public static ReadOnlySpan<byte> SnapshotMagic => "RETSNAP2"u8;

    /// <summary>First bytes of data/plugins/retainer/retained.log.</summary>
    public static ReadOnlySpan<byte> LogMagic => "RETLOG02"u8;

    /// <summary>The same files in the first format.</summary>
    public static ReadOnlySpan<byte> LegacySnapshotMagic => "RETSNAP1"u8;

    /// <summary>The same files in the first format.</summary>
    public static ReadOnlySpan<byte> LegacyLogMagic => "RETLOG01"u8;

    private const byte SetRecord = 1;
    private const byte DeleteRecord = 2;

    /// <summary>Appends one record: a set when <paramref name="message"/> is not null, else a delete.</summary>
    public static void Write(Stream output, string topic, BrokerMessage? message)
    {
        using var body = new MemoryStream();
        using (var w = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            w.Write((int)0); // length, patched below
            if (message is null)
            {
                w.Write(DeleteRecord);
                w.Write(topic);
            }
            else
            {
                w.Write(SetRecord);
                BrokerMessageCodec.Write(w, message);
            }
        }
        var buffer = body.GetBuffer();
        BitConverter.TryWriteBytes(buffer.AsSpan(0, 4), (int)body.Length - 4);
        if (!BitConverter.IsLittleEndian)
            buffer.AsSpan(0, 4).Reverse();
        output.Write(buffer, 0, (int)body.Length);
    }

    /// <summary>
    /// Reads records until the end of <paramref name="input"/>. Sets <paramref name="torn"/> when the file ends in
    /// the middle of a record (a crash while writing); the records before it are returned.
    /// </summary>
    /// <param name="input">The stream, after the magic.</param>
    /// <param name="legacy">The file is of the first format (its magic was a legacy one).</param>
    /// <param name="torn">Set when the data ends in the middle of a record.</param>
    public static List<(string Topic, BrokerMessage? Message)> ReadAll(Stream input, bool legacy, out bool torn)
    {
        var records = new List<(string, BrokerMessage?)>();
        torn = false;
        Span<byte> header = stackalloc byte[4];
        while (true)
        {
            var got = input.ReadAtLeast(header, 4, throwOnEndOfStream: false);
            if (got == 0)
                return records;
            var length = got == 4 ? System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(header) : -1;
            if (length <= 0)
            {
                torn = true;
                return records;
            }
            var body = new byte[length];
            if (input.ReadAtLeast(body, length, throwOnEndOfStream: false) < length)
            {
                torn = true;
                return records;
            }
            try
            {
                records.Add(legacy ? Legacy.ReadBody(body) : ReadBody(body));
            }
            catch (Exception ex) when (ex is EndOfStreamException or InvalidDataException)
            {
                torn = true;
                return records;
            }
        }
    }

    /// <summary>
    /// Checks and skips <paramref name="magic"/> or, from a file of the first format, <paramref name="legacyMagic"/>
    /// (then <paramref name="legacy"/> is set); false when the file starts with neither.
    /// </summary>
    public static bool ReadMagic(Stream input, ReadOnlySpan<byte> magic, ReadOnlySpan<byte> legacyMagic, out bool legacy)
    {
        Span<byte> read = stackalloc byte[magic.Length];
        var whole = input.ReadAtLeast(read, magic.Length, throwOnEndOfStream: false) == magic.Length;
        legacy = whole && read.SequenceEqual(legacyMagic);
        return whole && (legacy || read.SequenceEqual(magic));
    }

    private static (string, BrokerMessage?) ReadBody(byte[] body)
    {
        using var r = new BinaryReader(new MemoryStream(body), Encoding.UTF8);
        var kind = r.ReadByte();
        if (kind == DeleteRecord)
            return (r.ReadString(), null);
        if (kind != SetRecord)
            throw new InvalidDataException($"unknown record kind {kind}");
        var message = BrokerMessageCodec.Read(r);
        return (message.Topic, message.Retain ? message : message with { Retain = true });
    }

    /// <summary>The set body of the first format (RETSNAP1/RETLOG01), read only to upgrade old files.</summary>
    private static class Legacy
    {
        [Flags]
        private enum Fields : byte
        {
            None = 0,
            Expiry = 1,
            Publisher = 2,
            System = 4,
            Properties = 8,
        }

        /// <remarks>
        /// <c>1</c>, topic, QoS, timestamp (UTC ticks), flags, [expiry uint32], [publisher], payload (int32 length +
        /// bytes), [properties: payload format, content type, response topic, correlation data each behind a bool,
        /// then user properties (int32 count, name, value)]; a delete is <c>2</c>, topic.
        /// </remarks>
        public static (string, BrokerMessage?) ReadBody(byte[] body)
        {
            using var r = new BinaryReader(new MemoryStream(body), Encoding.UTF8);
            var kind = r.ReadByte();
            var topic = r.ReadString();
            if (kind == DeleteRecord)
                return (topic, null);
            if (kind != SetRecord)
                throw new InvalidDataException($"unknown record kind {kind}");
            var qos = (MqttQos)r.ReadByte();
            var timestamp = new DateTimeOffset(r.ReadInt64(), TimeSpan.Zero);
            var fields = (Fields)r.ReadByte();
            uint? expiry = fields.HasFlag(Fields.Expiry) ? r.ReadUInt32() : null;
            var publisher = fields.HasFlag(Fields.Publisher) ? r.ReadString() : null;
            var payloadLength = r.ReadInt32();
            var payload = r.ReadBytes(payloadLength);
            if (payload.Length != payloadLength)
                throw new EndOfStreamException("payload cut short");
            var properties = fields.HasFlag(Fields.Properties) ? ReadProperties(r) : null;
            return (topic, new BrokerMessage
            {
                Topic = topic,
                Payload = payload,
                Qos = qos,
                Retain = true,
                Properties = properties,
                MessageExpiryInterval = expiry,
                PublisherId = publisher,
                Timestamp = timestamp,
                IsSystem = fields.HasFlag(Fields.System),
            });
        }

        private static MessageProperties ReadProperties(BinaryReader r)
        {
            byte? format = r.ReadBoolean() ? r.ReadByte() : null;
            var contentType = r.ReadBoolean() ? r.ReadString() : null;
            var responseTopic = r.ReadBoolean() ? r.ReadString() : null;
            ReadOnlyMemory<byte>? correlation = r.ReadBoolean() ? r.ReadBytes(r.ReadInt32()) : null;
            var count = r.ReadInt32();
            var users = new MqttUserProperty[Math.Max(count, 0)];
            for (var i = 0; i < users.Length; i++)
                users[i] = new MqttUserProperty(r.ReadString(), r.ReadString());
            return new MessageProperties
            {
                PayloadFormatIndicator = format,
                ContentType = contentType,
                ResponseTopic = responseTopic,
                CorrelationData = correlation,
                UserProperties = [.. users],
            };
        }
    }
}
