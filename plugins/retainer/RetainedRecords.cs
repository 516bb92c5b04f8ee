using System.Text;

namespace Broker.Plugins.Retainer;

/// <summary>
/// The binary records of the retainer's files (see README.md, "Storage format"): each record is a little-endian
/// int32 body length then the body, so a record torn by a crash is recognised (too short) and the file is used up
/// to the last whole record.
/// </summary>
/// <remarks>
/// Body of a set: <c>1</c>, topic, QoS, timestamp (UTC ticks), flags (1 = has expiry, 2 = has publisher,
/// 4 = system, 8 = has properties), [expiry uint32], [publisher], payload (int32 length + bytes), [properties].
/// A delete: <c>2</c>, topic. Strings are BinaryWriter strings (7-bit length, UTF-8). Only the properties a
/// PUBLISH forwards are kept: payload format, content type, response topic, correlation data, user properties.
/// </remarks>
internal static class RetainedRecords
{
    /// <summary>First bytes of data/plugins/retainer/retained.snapshot, followed by the writer's run id.</summary>
    public static ReadOnlySpan<byte> SnapshotMagic => "RETSNAP1"u8;

    /// <summary>First bytes of data/plugins/retainer/retained.log.</summary>
    public static ReadOnlySpan<byte> LogMagic => "RETLOG01"u8;

    private const byte SetRecord = 1;
    private const byte DeleteRecord = 2;

    [Flags]
    private enum Fields : byte
    {
        None = 0,
        Expiry = 1,
        Publisher = 2,
        System = 4,
        Properties = 8,
    }

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
                w.Write(topic);
                w.Write((byte)message.Qos);
                w.Write(message.Timestamp.UtcTicks);
                var fields = (message.MessageExpiryInterval is null ? Fields.None : Fields.Expiry)
                    | (message.PublisherId is null ? Fields.None : Fields.Publisher)
                    | (message.IsSystem ? Fields.System : Fields.None)
                    | (message.Properties is null ? Fields.None : Fields.Properties);
                w.Write((byte)fields);
                if (message.MessageExpiryInterval is { } expiry)
                    w.Write(expiry);
                if (message.PublisherId is { } publisher)
                    w.Write(publisher);
                w.Write(message.Payload.Length);
                w.Write(message.Payload.Span);
                if (message.Properties is { } properties)
                    WriteProperties(w, properties);
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
    public static List<(string Topic, BrokerMessage? Message)> ReadAll(Stream input, out bool torn)
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
                records.Add(ReadBody(body));
            }
            catch (EndOfStreamException)
            {
                torn = true;
                return records;
            }
        }
    }

    /// <summary>Checks and skips <paramref name="magic"/>; false when the file does not start with it.</summary>
    public static bool ReadMagic(Stream input, ReadOnlySpan<byte> magic)
    {
        Span<byte> read = stackalloc byte[magic.Length];
        return input.ReadAtLeast(read, magic.Length, throwOnEndOfStream: false) == magic.Length && read.SequenceEqual(magic);
    }

    private static (string, BrokerMessage?) ReadBody(byte[] body)
    {
        using var r = new BinaryReader(new MemoryStream(body), Encoding.UTF8);
        var kind = r.ReadByte();
        var topic = r.ReadString();
        if (kind == DeleteRecord)
            return (topic, null);
        if (kind != SetRecord)
            throw new EndOfStreamException($"unknown record kind {kind}");
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

    private static void WriteProperties(BinaryWriter w, MqttProperties p)
    {
        WriteOptional(w, p.PayloadFormatIndicator, static (w, v) => w.Write(v));
        WriteOptional(w, p.ContentType, static (w, v) => w.Write(v));
        WriteOptional(w, p.ResponseTopic, static (w, v) => w.Write(v));
        WriteOptional(w, p.CorrelationData, static (w, v) =>
        {
            w.Write(v.Length);
            w.Write(v);
        });
        var users = p.UserProperties;
        w.Write(users?.Count ?? 0);
        if (users is not null)
        {
            foreach (var user in users)
            {
                w.Write(user.Name);
                w.Write(user.Value);
            }
        }
    }

    private static MqttProperties ReadProperties(BinaryReader r)
    {
        var p = new MqttProperties
        {
            PayloadFormatIndicator = r.ReadBoolean() ? r.ReadByte() : null,
            ContentType = r.ReadBoolean() ? r.ReadString() : null,
            ResponseTopic = r.ReadBoolean() ? r.ReadString() : null,
            CorrelationData = r.ReadBoolean() ? r.ReadBytes(r.ReadInt32()) : null,
        };
        var count = r.ReadInt32();
        if (count > 0)
        {
            p.UserProperties = new List<MqttUserProperty>(count);
            for (var i = 0; i < count; i++)
                p.UserProperties.Add(new MqttUserProperty(r.ReadString(), r.ReadString()));
        }
        return p;
    }

    private static void WriteOptional<T>(BinaryWriter w, T? value, Action<BinaryWriter, T> write) where T : class
    {
        w.Write(value is not null);
        if (value is not null)
            write(w, value);
    }

    private static void WriteOptional(BinaryWriter w, byte? value, Action<BinaryWriter, byte> write)
    {
        w.Write(value.HasValue);
        if (value is { } v)
            write(w, v);
    }
}
