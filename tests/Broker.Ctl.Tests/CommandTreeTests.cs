using System.CommandLine;
using System.Text.Json;
using Xunit;

namespace Broker.Ctl.Tests;

/// <summary>The command tree parses what operators type and refuses bad usage before any HTTP call.</summary>
public sealed class CommandTreeTests
{
    private static ParseResult Parse(string line) =>
        CtlCommands.BuildRoot().Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries));

    [Theory]
    [InlineData("subscriptions list")]
    [InlineData("subscriptions list c1 --topic a/+ --match-topic a/b")]
    [InlineData("subscriptions show c1")]
    [InlineData("subscriptions add c1 a/# --qos 2")]
    [InlineData("subscriptions add c1 $share/g/a -q 1")]
    [InlineData("subscriptions add c1 a")]
    [InlineData("subscriptions del c1 a/#")]
    [InlineData("routes list")]
    [InlineData("routes list --topic a/# --json")]
    [InlineData("routes list --page 2 --limit 10")]
    [InlineData("acl reload")]
    public void Parse_GoodUsage_HasNoErrors(string line) =>
        Assert.Empty(Parse(line).Errors);

    [Theory]
    [InlineData("subscriptions add c1 a --qos 3")]
    [InlineData("subscriptions add c1 a --qos -1")]
    [InlineData("subscriptions add c1")]
    [InlineData("subscriptions del c1")]
    [InlineData("subscriptions show")]
    [InlineData("routes list --limit x")]
    [InlineData("acl reload now")]
    [InlineData("routes frobnicate")]
    public void Parse_BadUsage_IsAnError(string line) =>
        Assert.NotEmpty(Parse(line).Errors);

    [Fact]
    public void Parse_QosOutOfRange_SaysWhichValuesAreAllowed() =>
        Assert.Contains(Parse("subscriptions add c1 a --qos 3").Errors, e => e.Message.Contains("0, 1 or 2", StringComparison.Ordinal));

    [Fact]
    public void EveryCommand_HasADescription()
    {
        static IEnumerable<Command> All(Command command) => command.Subcommands.SelectMany(All).Prepend(command);
        foreach (var command in All(CtlCommands.BuildRoot()))
            Assert.False(string.IsNullOrWhiteSpace(command.Description), command.Name);
    }

    [Theory]
    [InlineData("c1", "a/#", 1, """{"clientid":"c1","topic":"a/#","qos":1}""")]
    [InlineData("c1", "a", null, """{"clientid":"c1","topic":"a"}""")]
    public void SubscribeBody_IsTheApiJson(string clientId, string topic, int? qos, string expected) =>
        Assert.Equal(expected, SubscriptionsCommands.SubscribeBody(clientId, topic, qos));

    [Fact]
    public void SubscribeBody_QuotesAndUnicode_RoundTrip()
    {
        var body = JsonDocument.Parse(SubscriptionsCommands.SubscribeBody("we\"ird\\id", "säle/+/\"x\"", 0)).RootElement;
        Assert.Equal("we\"ird\\id", body.GetProperty("clientid").GetString());
        Assert.Equal("säle/+/\"x\"", body.GetProperty("topic").GetString());
    }
}
