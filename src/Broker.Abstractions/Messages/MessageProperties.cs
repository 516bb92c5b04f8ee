using System.Collections.Immutable;

namespace Broker.Abstractions;

/// <summary>
/// The MQTT 5 properties that travel with an application message from its publisher to every subscriber, unchanged
/// (MQTT 5.0, 3.3.2.3): payload format, content type, response topic, correlation data and user properties. The
/// per-delivery ones (topic alias, subscription identifiers, the remaining expiry) belong to one connection and are
/// never here. Immutable, so one instance is shared by every delivery of a message; change one with <c>with</c>.
/// Since SDK 2.0 (SDK 1 used the mutable <see cref="MqttProperties"/>).
/// </summary>
public sealed record MessageProperties
{
    private readonly ImmutableArray<MqttUserProperty> _userProperties;

    /// <summary>Property 0x01: 1 when the payload is UTF-8 text, 0 (or absent) for bytes.</summary>
    public byte? PayloadFormatIndicator { get; init; }

    /// <summary>Property 0x03: the payload's content type (a MIME type, say).</summary>
    public string? ContentType { get; init; }

    /// <summary>Property 0x08: the topic name a responder publishes its answer to (request/response).</summary>
    public string? ResponseTopic { get; init; }

    /// <summary>Property 0x09: data the requester uses to match a response to its request.</summary>
    public ReadOnlyMemory<byte>? CorrelationData { get; init; }

    /// <summary>Property 0x26, in order and with duplicates (both significant); empty when there are none.</summary>
    public ImmutableArray<MqttUserProperty> UserProperties
    {
        get => _userProperties.IsDefault ? [] : _userProperties;
        init => _userProperties = value;
    }

    /// <summary>Whether none of the properties is present (such an instance need not be carried at all).</summary>
    public bool IsEmpty => PayloadFormatIndicator is null && ContentType is null && ResponseTopic is null
        && CorrelationData is null && UserProperties.IsEmpty;

    /// <summary>Equal when every property is (correlation data and user properties compared by content).</summary>
    /// <param name="other">The other instance.</param>
    public bool Equals(MessageProperties? other) =>
        other is not null
        && PayloadFormatIndicator == other.PayloadFormatIndicator
        && ContentType == other.ContentType
        && ResponseTopic == other.ResponseTopic
        && CorrelationData.HasValue == other.CorrelationData.HasValue
        && (CorrelationData is not { } mine || mine.Span.SequenceEqual(other.CorrelationData!.Value.Span))
        && UserProperties.AsSpan().SequenceEqual(other.UserProperties.AsSpan());

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(PayloadFormatIndicator, ContentType, ResponseTopic, UserProperties.Length);
}
