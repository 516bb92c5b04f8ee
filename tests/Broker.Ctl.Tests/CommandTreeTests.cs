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
    [InlineData("banned list")]
    [InlineData("banned add --as clientid --who c1")]
    [InlineData("banned add --as username --who mallory --reason flooding --duration 1h30m")]
    [InlineData("banned add --as peerhost --who 10.0.0.7 --until 2030-01-01T00:00:00Z")]
    [InlineData("banned del --as clientid --who c1")]
    [InlineData("users add alice --password s --superuser")]
    [InlineData("users add alice")]
    [InlineData("users update alice --superuser false")]
    [InlineData("users del alice")]
    [InlineData("users list --json")]
    [InlineData("users show alice")]
    [InlineData("users import /etc/mosquitto/passwd --format mosquitto")]
    [InlineData("clientids add dev-1 -p s")]
    [InlineData("acl rules add --username alice a/%u/# pub allow")]
    [InlineData("acl rules add --all # pubsub deny")]
    [InlineData("acl rules del --clientid c1 a/b")]
    [InlineData("acl rules del --all")]
    [InlineData("acl rules list")]
    [InlineData("acl rules list --username alice")]
    [InlineData("cluster status")]
    [InlineData("cluster join nats://10.0.0.1:4222")]
    [InlineData("cluster leave")]
    [InlineData("cluster force-leave broker@10.0.0.3")]
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
    [InlineData("cluster join")]
    [InlineData("cluster leave now")]
    [InlineData("cluster force-leave")]
    [InlineData("banned add --who c1")]
    [InlineData("banned add --as hostname --who c1")]
    [InlineData("banned add --as clientid")]
    [InlineData("banned add --as clientid --who c1 --duration soon")]
    [InlineData("banned add --as clientid --who c1 --duration 0s")]
    [InlineData("banned add --as clientid --who c1 --duration 99999999999d")]
    [InlineData("banned add --as clientid --who c1 --duration 5x")]
    [InlineData("banned add --as clientid --who c1 --until yesterday")]
    [InlineData("banned add --as clientid --who c1 --duration 5m --until 2030-01-01T00:00:00Z")]
    [InlineData("banned del --who c1")]
    [InlineData("users add")]
    [InlineData("users update alice --superuser maybe")]
    [InlineData("users import f --format htpasswd")]
    [InlineData("clientids import f")]
    [InlineData("acl rules add a pub allow")]
    [InlineData("acl rules add --username u --all a pub allow")]
    [InlineData("acl rules add --username u a publish allow")]
    [InlineData("acl rules add --username u a pub yes")]
    [InlineData("acl rules del a")]
    [InlineData("acl rules list --username u --clientid c")]
    public void Parse_BadUsage_IsAnError(string line) =>
        Assert.NotEmpty(Parse(line).Errors);

    [Fact]
    public void Parse_QosOutOfRange_SaysWhichValuesAreAllowed() =>
        Assert.Contains(Parse("subscriptions add c1 a --qos 3").Errors, e => e.Message.Contains("0, 1 or 2", StringComparison.Ordinal));

    [Theory]
    [InlineData("90", 90)]
    [InlineData("90s", 90)]
    [InlineData("10m", 600)]
    [InlineData("1h30m", 5400)]
    [InlineData("7d", 604800)]
    public void BannedDuration_Parses(string text, int seconds)
    {
        Assert.True(BannedCommands.TryParseDuration(text, out var duration));
        Assert.Equal(TimeSpan.FromSeconds(seconds), duration);
    }

    [Fact]
    public void BanBody_IsTheApiJson() =>
        Assert.Equal("""{"who":"c1","as":"clientid","reason":"r","by":"ctl","until":1800000000}""",
            BannedCommands.BanBody("clientid", "c1", "r", DateTimeOffset.FromUnixTimeSeconds(1_800_000_000)));

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
