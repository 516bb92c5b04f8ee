using Broker.Configuration;
using Xunit;

namespace Broker.Server.Tests.Configuration;

public sealed class ConfDocsTests : IDisposable
{
    private readonly TempConf _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Render_Key_DescriptionThenDefaultInConfSyntax()
    {
        var text = ConfDocs.Render(typeof(SampleOptions));

        Assert.StartsWith(
            "# Largest packet accepted, fixed header included.\n#\n# Range: 1KB to 256MB.\nmqtt.max_packet_size = 1MB\n\n",
            text,
            StringComparison.Ordinal);
        Assert.Contains("\nmqtt.keepalive = 15s\n", text, StringComparison.Ordinal);
        Assert.Contains("\nmqtt.retain_available = true\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbroker.debug = false\n", text, StringComparison.Ordinal);
        Assert.Contains("\nlistener.tcp.external = 0.0.0.0:1883\n", text, StringComparison.Ordinal);
        Assert.Contains("\nlistener.tcp.external.recbuf = 64KB\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbroker.large_buffer = 2GB\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbroker.odd_size = 1500\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbroker.sys_interval = 1m\n", text, StringComparison.Ordinal);
        Assert.Contains("\nmqtt.upgrade_qos_ratio = 0.75\n", text, StringComparison.Ordinal);
        Assert.Contains("\nmqtt.banner = \" padded \"\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbroker.fallback_strategy = hash_client_id\n", text, StringComparison.Ordinal);
        Assert.Contains(
            "# How a shared subscription picks a member.\n#\n# One of: random, round_robin, sticky, hash_client_id, hash_topic.\nbroker.shared_subscription_strategy = round_robin\n",
            text,
            StringComparison.Ordinal);
        Assert.Contains("# Share of messages to upgrade.\n# A second line of description.\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_NullDefault_KeyWrittenCommentedOutWithExample()
    {
        var text = ConfDocs.Render(typeof(SampleOptions));

        Assert.Contains("# Example: 2h\n# mqtt.session_expiry = 2h\n", text, StringComparison.Ordinal);
        Assert.Contains("\n# mqtt.max_inflight = \n", text, StringComparison.Ordinal);
        Assert.Contains("\n# mqtt.mountpoint = \n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_EveryKnownKey_IsNamed()
    {
        var text = ConfDocs.Render(typeof(SampleOptions), typeof(LimitsOptions));

        foreach (var key in ConfBinder.KnownKeys(typeof(SampleOptions), typeof(LimitsOptions)))
        {
            Assert.Contains($"{key} = ", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Render_ThenParseThenBind_GivesDefaults()
    {
        var path = _temp.Write(ConfDocs.Render(typeof(SampleOptions), typeof(LimitsOptions)));
        var configuration = TempConf.Build(path);

        Assert.Empty(ConfBinder.CheckUnknownKeys(configuration, ConfBinder.KnownKeys(typeof(SampleOptions), typeof(LimitsOptions))));
        var bound = ConfBinder.Bind<SampleOptions>(configuration);
        ConfBinder.Bind<LimitsOptions>(configuration);

        var defaults = new SampleOptions();
        foreach (var property in typeof(SampleOptions).GetProperties())
        {
            Assert.Equal(property.GetValue(defaults), property.GetValue(bound));
        }

        // Every key with a default is really set by the file, not just left alone.
        Assert.Equal("1MB", configuration["mqtt:max_packet_size"]);
        Assert.Equal(" padded ", configuration["mqtt:banner"]);
    }

    [Fact]
    public void Defaults_Keys_InConfSyntax()
    {
        var defaults = ConfDocs.Defaults(typeof(SampleOptions));

        Assert.Equal("1MB", defaults["mqtt.max_packet_size"]);
        Assert.Equal("15s", defaults["mqtt.keepalive"]);
        Assert.Equal("round_robin", defaults["broker.shared_subscription_strategy"]);
        Assert.Null(defaults["mqtt.session_expiry"]);
    }

    [Theory]
    [InlineData(0L, "0s")]
    [InlineData(500L * TimeSpan.TicksPerMillisecond, "500ms")]
    [InlineData(15L * TimeSpan.TicksPerSecond, "15s")]
    [InlineData(90L * TimeSpan.TicksPerSecond, "90s")]
    [InlineData(2L * TimeSpan.TicksPerMinute, "2m")]
    [InlineData(36L * TimeSpan.TicksPerHour, "36h")]
    [InlineData(7L * TimeSpan.TicksPerDay, "7d")]
    [InlineData(1500L, "0.00015s")]
    public void FormatDuration_Value_ParsesBackToSameValue(long ticks, string expected)
    {
        var text = ConfValues.FormatDuration(TimeSpan.FromTicks(ticks));

        Assert.Equal(expected, text);
        Assert.True(ConfValues.TryParseDuration(text, out var parsed));
        Assert.Equal(ticks, parsed.Ticks);
    }

    [Theory]
    [InlineData(0L, "0")]
    [InlineData(1500L, "1500")]
    [InlineData(1024L, "1KB")]
    [InlineData(1536L * 1024, "1536KB")]
    [InlineData(1L << 20, "1MB")]
    [InlineData(5L << 30, "5GB")]
    public void FormatSize_Value_ParsesBackToSameValue(long bytes, string expected)
    {
        var text = ConfValues.FormatSize(bytes);

        Assert.Equal(expected, text);
        Assert.True(ConfValues.TryParseSize(text, out var parsed, out _));
        Assert.Equal(bytes, parsed);
    }

    [Theory]
    [InlineData("RoundRobin", "round_robin")]
    [InlineData("HashClientId", "hash_client_id")]
    [InlineData("Random", "random")]
    [InlineData("TLSv12", "tl_sv12")]
    [InlineData("HTTPServer", "http_server")]
    public void ToSnakeCase_Name_SplitsWords(string name, string expected)
    {
        Assert.Equal(expected, ConfValues.ToSnakeCase(name));
    }
}
