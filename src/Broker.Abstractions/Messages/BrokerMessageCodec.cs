using System.Collections.Immutable;

namespace Broker.Abstractions;

/// <summary>
/// A versioned binary form of <see cref="BrokerMessage"/>, for plugins that keep messages on disk or hand them to a
/// successor on reload (retainer, delayed publish, bridges): one format, read by every later broker version.
/// </summary>
/// <remarks>
/// <para>
/// Layout of version 1 (little-endian; strings as <see cref="BinaryWriter.Write(string)"/> writes them: 7-bit length,
/// UTF-8): version byte <c>1</c>; topic; timestamp as UTC ticks (int64); QoS (byte); flags (byte: 1 retain, 2 expiry,
/// 4 publisher, 8 system); [message expiry interval (uint32)]; [publisher id]; payload (int32 length, bytes);
/// properties: a byte of flags (1 payload format, 2 content type, 4 response topic, 8 correlation data, 16 user
/// properties) then those present: payload format (byte), content type, response topic, correlation data (int32
/// length, bytes), user properties (int32 count, then name and value of each, in order).
/// </para>
/// <para>
/// Version 2 (SDK 1.5) adds the message's metadata after the publisher id, each present as its flag says (16 id, 32
/// publisher user name, 64 publisher address, 128 origin node): id, user name, address, node, as strings.
/// </para>
/// <para>
/// Only the properties that travel with a PUBLISH to its subscribers are kept; the others (topic alias, subscription
/// identifiers, ...) belong to one connection. A later version may add fields; <see cref="Read"/> reads every version
/// up to <see cref="Version"/> and refuses a newer one with <see cref="InvalidDataException"/>, so a file written by a
/// newer broker is never misread.
/// </para>
/// </remarks>
public static class BrokerMessageCodec
{
    /// <summary>The version <see cref="Write"/> writes.</summary>
    public const byte Version = 2;

    [Flags]
    private enum Fields : byte
    {
        None = 0,
        Retain = 1,
        Expiry = 2,
        Publisher = 4,
        System = 8,
        Id = 16,
        Username = 32,
        Address = 64,
        Node = 128,
    }

    [Flags]
    private enum PropertyFields : byte
    {
        None = 0,
        PayloadFormat = 1,
        ContentType = 2,
        ResponseTopic = 4,
        CorrelationData = 8,
        UserProperties = 16,
    }

    /// <summary>Writes <paramref name="message"/> at the writer's position.</summary>
    /// <param name="writer">A writer with UTF-8 encoding (the default).</param>
    /// <param name="message">The message.</param>
    public static void Write(BinaryWriter writer, BrokerMessage message)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(message);
        writer.Write(Version);
        writer.Write(message.Topic);
        writer.Write(message.Timestamp.UtcTicks);
        writer.Write((byte)message.Qos);
        var fields = (message.Retain ? Fields.Retain : Fields.None)
            | (message.MessageExpiryInterval is null ? Fields.None : Fields.Expiry)
            | (message.PublisherId is null ? Fields.None : Fields.Publisher)
            | (message.IsSystem ? Fields.System : Fields.None)
            | Fields.Id
            | (message.PublisherUsername is null ? Fields.None : Fields.Username)
            | (message.PublisherAddress is null ? Fields.None : Fields.Address)
            | (message.OriginNode is null ? Fields.None : Fields.Node);
        writer.Write((byte)fields);
        if (message.MessageExpiryInterval is { } expiry)
            writer.Write(expiry);
        if (message.PublisherId is { } publisher)
            writer.Write(publisher);
        writer.Write(message.Id);
        if (message.PublisherUsername is { } username)
            writer.Write(username);
        if (message.PublisherAddress is { } address)
            writer.Write(address);
        if (message.OriginNode is { } node)
            writer.Write(node);
        writer.Write(message.Payload.Length);
        writer.Write(message.Payload.Span);
        WriteProperties(writer, message.Properties);
    }

    /// <summary>Reads one message that <see cref="Write"/> wrote, of this or an earlier version.</summary>
    /// <param name="reader">A reader with UTF-8 encoding (the default), at the message.</param>
    /// <exception cref="InvalidDataException">A newer version, or values no message has; also when the data ends
    /// in the middle of the message.</exception>
    public static BrokerMessage Read(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        try
        {
            var version = reader.ReadByte();
            if (version is 0 or > Version)
                throw new InvalidDataException($"message format version {version}: this broker reads versions 1 to {Version}");
            var topic = reader.ReadString();
            var timestamp = reader.ReadInt64();
            var qos = reader.ReadByte();
            var fields = (Fields)reader.ReadByte();
            if (topic.Length == 0 || qos > 2 || timestamp < DateTimeOffset.MinValue.UtcTicks || timestamp > DateTimeOffset.MaxValue.UtcTicks)
                throw new InvalidDataException("not a message: empty topic, QoS above 2 or impossible timestamp");
            uint? expiry = fields.HasFlag(Fields.Expiry) ? reader.ReadUInt32() : null;
            var publisher = fields.HasFlag(Fields.Publisher) ? reader.ReadString() : null;
            // Version 1 has none of the metadata flags.
            if (version == 1 && (fields & (Fields.Id | Fields.Username | Fields.Address | Fields.Node)) != 0)
                throw new InvalidDataException("not a message: version 1 with version 2 fields");
            var id = fields.HasFlag(Fields.Id) ? reader.ReadString() : null;
            var username = fields.HasFlag(Fields.Username) ? reader.ReadString() : null;
            var address = fields.HasFlag(Fields.Address) ? reader.ReadString() : null;
            var node = fields.HasFlag(Fields.Node) ? reader.ReadString() : null;
            var payload = ReadBytes(reader);
            return new BrokerMessage
            {
                Topic = topic,
                Payload = payload,
                Qos = (MqttQos)qos,
                Retain = fields.HasFlag(Fields.Retain),
                MessageExpiryInterval = expiry,
                PublisherId = publisher,
                Timestamp = new DateTimeOffset(timestamp, TimeSpan.Zero),
                IsSystem = fields.HasFlag(Fields.System),
                Properties = ReadProperties(reader),
                PublisherUsername = username,
                PublisherAddress = address,
                OriginNode = node,
                Id = id!, // version 1 has none: null leaves it to be made when first read
            };
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException("the data ends in the middle of a message");
        }
    }

    private static byte[] ReadBytes(BinaryReader reader)
    {
        var length = reader.ReadInt32();
        if (length < 0)
            throw new InvalidDataException("negative length");
        var bytes = reader.ReadBytes(length);
        return bytes.Length == length ? bytes : throw new EndOfStreamException();
    }

    private static void WriteProperties(BinaryWriter writer, MessageProperties? properties)
    {
        var fields = PropertyFields.None;
        if (properties?.PayloadFormatIndicator is not null)
            fields |= PropertyFields.PayloadFormat;
        if (properties?.ContentType is not null)
            fields |= PropertyFields.ContentType;
        if (properties?.ResponseTopic is not null)
            fields |= PropertyFields.ResponseTopic;
        if (properties?.CorrelationData is not null)
            fields |= PropertyFields.CorrelationData;
        if (properties is { UserProperties.IsEmpty: false })
            fields |= PropertyFields.UserProperties;
        writer.Write((byte)fields);
        if (properties is null)
            return;
        if (properties.PayloadFormatIndicator is { } format)
            writer.Write(format);
        if (properties.ContentType is { } contentType)
            writer.Write(contentType);
        if (properties.ResponseTopic is { } responseTopic)
            writer.Write(responseTopic);
        if (properties.CorrelationData is { } correlation)
        {
            writer.Write(correlation.Length);
            writer.Write(correlation.Span);
        }
        if (fields.HasFlag(PropertyFields.UserProperties))
        {
            writer.Write(properties.UserProperties.Length);
            foreach (var (name, value) in properties.UserProperties)
            {
                writer.Write(name);
                writer.Write(value);
            }
        }
    }

    private static MessageProperties? ReadProperties(BinaryReader reader)
    {
        var fields = (PropertyFields)reader.ReadByte();
        if (fields == PropertyFields.None)
            return null;
        var users = ImmutableArray<MqttUserProperty>.Empty;
        byte? format = fields.HasFlag(PropertyFields.PayloadFormat) ? reader.ReadByte() : null;
        var contentType = fields.HasFlag(PropertyFields.ContentType) ? reader.ReadString() : null;
        var responseTopic = fields.HasFlag(PropertyFields.ResponseTopic) ? reader.ReadString() : null;
        ReadOnlyMemory<byte>? correlation = fields.HasFlag(PropertyFields.CorrelationData) ? ReadBytes(reader) : null;
        if (fields.HasFlag(PropertyFields.UserProperties))
        {
            var count = reader.ReadInt32();
            if (count < 0)
                throw new InvalidDataException("negative user property count");
            var builder = ImmutableArray.CreateBuilder<MqttUserProperty>(Math.Min(count, 1024));
            for (var i = 0; i < count; i++)
                builder.Add(new MqttUserProperty(reader.ReadString(), reader.ReadString()));
            users = builder.DrainToImmutable();
        }
        return new MessageProperties
        {
            PayloadFormatIndicator = format,
            ContentType = contentType,
            ResponseTopic = responseTopic,
            CorrelationData = correlation,
            UserProperties = users,
        };
    }
}
