using System.Collections.Immutable;
using Broker.Abstractions;

namespace Broker.Plugins.Tests.Sdk;

/// <summary>
/// SDK 2's message properties: immutable and shared by every delivery, so a plugin that changes them makes a copy and
/// the message other subscribers and plugins see stays as published.
/// </summary>
public sealed class MessagePropertiesTests
{
    private static MessageProperties Sample() => new()
    {
        PayloadFormatIndicator = 1,
        ContentType = "application/json",
        ResponseTopic = "reply/to",
        CorrelationData = new byte[] { 1, 2, 3 },
        UserProperties = [new("k", "v"), new("k", "w")],
    };

    [Fact]
    public void With_ChangesTheCopyOnly()
    {
        var original = Sample();

        var copy = original with { UserProperties = original.UserProperties.Add(new("added", "1")), ContentType = "text/plain" };

        Assert.Equal([new("k", "v"), new("k", "w")], original.UserProperties);
        Assert.Equal("application/json", original.ContentType);
        Assert.Equal([new("k", "v"), new("k", "w"), new("added", "1")], copy.UserProperties);
        Assert.NotEqual(original, copy);
    }

    [Fact]
    public void UserProperties_CannotBeChangedThroughTheInterfaces()
    {
        var properties = Sample();

        var list = Assert.IsAssignableFrom<IList<MqttUserProperty>>(properties.UserProperties);

        Assert.True(list.IsReadOnly);
        Assert.Throws<NotSupportedException>(() => list.Add(new("x", "y")));
        Assert.Throws<NotSupportedException>(() => list[0] = new("x", "y"));
        Assert.Equal(2, properties.UserProperties.Length);
    }

    [Fact]
    public void Equals_ComparesContentIncludingOrderOfUserProperties()
    {
        var a = Sample();
        var b = Sample(); // distinct arrays, same content

        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, a with { UserProperties = [new("k", "w"), new("k", "v")] });
        Assert.NotEqual(a, a with { CorrelationData = new byte[] { 1, 2, 4 } });
        Assert.NotEqual(a, a with { CorrelationData = null });
    }

    [Fact]
    public void Default_NoUserPropertiesIsEmptyNotDefault()
    {
        var none = new MessageProperties();

        Assert.True(none.IsEmpty);
        Assert.Empty(none.UserProperties);
        Assert.False(none.UserProperties.IsDefault);
        Assert.True((none with { UserProperties = default }).IsEmpty);
        Assert.False((none with { ContentType = "" }).IsEmpty);
        Assert.False((none with { UserProperties = ImmutableArray.Create(new MqttUserProperty("", "")) }).IsEmpty);
    }
}
