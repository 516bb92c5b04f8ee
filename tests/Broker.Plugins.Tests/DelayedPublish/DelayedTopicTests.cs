using Broker.Plugins.DelayedPublish;

namespace Broker.Plugins.Tests.DelayedPublish;

/// <summary><c>$delayed/&lt;seconds&gt;/&lt;topic&gt;</c> as EMQX reads it, plus this broker's rules for the target topic.</summary>
public sealed class DelayedTopicTests
{
    private const long Max = 4_294_967;

    [Theory]
    [InlineData("$delayed/10/a/b", 10, "a/b")]
    [InlineData("$delayed/0/t", 0, "t")]
    [InlineData("$delayed/007/t", 7, "t")]
    [InlineData("$delayed/4294967/t", 4_294_967, "t")]
    [InlineData("$delayed/1//", 1, "/")]
    [InlineData("$delayed/1/a/", 1, "a/")]
    [InlineData("$delayed/1/ü/ñ", 1, "ü/ñ")]
    public void Valid_YieldsDelayAndTarget(string topic, long delay, string target)
    {
        Assert.Equal(DelayedTopicResult.Valid, DelayedTopic.Parse(topic, Max, out var seconds, out var name));
        Assert.Equal(delay, seconds);
        Assert.Equal(target, name);
    }

    [Theory]
    [InlineData("t")]
    [InlineData("$delayed")]
    [InlineData("$SYS/x")]
    [InlineData("delayed/10/t")]
    [InlineData("$Delayed/10/t")]
    public void OtherTopics_AreNotDelayed(string topic) =>
        Assert.Equal(DelayedTopicResult.NotDelayed, DelayedTopic.Parse(topic, Max, out _, out _));

    [Theory]
    [InlineData("$delayed/")]                 // no delay, no topic
    [InlineData("$delayed/10")]               // no topic
    [InlineData("$delayed/10/")]              // empty topic
    [InlineData("$delayed//t")]               // empty delay
    [InlineData("$delayed/-1/t")]             // negative
    [InlineData("$delayed/+1/t")]
    [InlineData("$delayed/1.5/t")]            // fractions
    [InlineData("$delayed/ 1/t")]
    [InlineData("$delayed/ten/t")]
    [InlineData("$delayed/handoff")]          // what a client publishing the hand-over topic gets
    [InlineData("$delayed/1/a/+")]            // wildcards are not allowed in a topic name [MQTT-3.3.2-2]
    [InlineData("$delayed/1/a/#")]
    [InlineData("$delayed/1/a\0b")]           // nor NUL [MQTT-4.7.3-2]
    [InlineData("$delayed/1/$SYS/x")]         // $ topics belong to the broker
    [InlineData("$delayed/1/$delayed/1/t")]
    [InlineData("$delayed/99999999999999999999999/a/+")] // malformed wins over too long
    public void Malformed_IsRefused(string topic) =>
        Assert.Equal(DelayedTopicResult.Malformed, DelayedTopic.Parse(topic, Max, out _, out _));

    [Theory]
    [InlineData("$delayed/4294968/t", Max)]
    [InlineData("$delayed/99999999999999999999999999999/t", Max)] // would overflow a long
    [InlineData("$delayed/11/t", 10)]
    public void AboveMaxDelay_IsTooLong(string topic, long max) =>
        Assert.Equal(DelayedTopicResult.TooLong, DelayedTopic.Parse(topic, max, out _, out _));
}
