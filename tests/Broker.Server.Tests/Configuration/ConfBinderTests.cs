using Broker.Configuration;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace Broker.Server.Tests.Configuration;

public sealed class ConfBinderTests : IDisposable
{
    private readonly TempConf _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Bind_NothingSet_KeepsDefaults()
    {
        var options = ConfBinder.Bind<SampleOptions>(TempConf.Build(_temp.Write("# empty")));

        var defaults = new SampleOptions();
        Assert.Equal(defaults.MaxPacketSize, options.MaxPacketSize);
        Assert.Equal(defaults.KeepAlive, options.KeepAlive);
        Assert.Equal(defaults.SharedStrategy, options.SharedStrategy);
        Assert.Null(options.SessionExpiry);
    }

    [Theory]
    [InlineData("1024", 1024L)]
    [InlineData("1500B", 1500L)]
    [InlineData("64KB", 64L * 1024)]
    [InlineData("1MB", 1024L * 1024)]
    [InlineData("1mb", 1024L * 1024)]
    [InlineData("16 MB", 16L * 1024 * 1024)]
    [InlineData("256MB", 256L * 1024 * 1024)]
    public void Bind_Size_ParsesBinaryUnits(string text, long expected)
    {
        var options = BindOne("mqtt.max_packet_size", text);

        Assert.Equal(expected, options.MaxPacketSize);
    }

    [Fact]
    public void Bind_SizeInGigabytes_ParsesIntoLong()
    {
        Assert.Equal(3L << 30, BindOne("broker.large_buffer", "3GB").LargeBuffer);
    }

    [Theory]
    [InlineData("15s", 15_000)]
    [InlineData("500ms", 500)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1d", 86_400_000)]
    [InlineData("30", 30_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("1m30s", 90_000)]
    [InlineData("1H", 3_600_000)]
    public void Bind_Duration_ParsesUnitsAndBareSeconds(string text, long expectedMilliseconds)
    {
        var options = BindOne("broker.sys_interval", text);

        Assert.Equal(TimeSpan.FromMilliseconds(expectedMilliseconds), options.SysInterval);
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("on", true)]
    [InlineData("ON", true)]
    [InlineData("false", false)]
    [InlineData("off", false)]
    public void Bind_Bool_AcceptsTrueFalseOnOff(string text, bool expected)
    {
        Assert.Equal(expected, BindOne("mqtt.retain_available", text).RetainAvailable);
    }

    [Theory]
    [InlineData("round_robin", SharedStrategy.RoundRobin)]
    [InlineData("hash_clientid", SharedStrategy.HashClientId)]
    [InlineData("hash_client_id", SharedStrategy.HashClientId)]
    [InlineData("HashClientId", SharedStrategy.HashClientId)]
    [InlineData("RANDOM", SharedStrategy.Random)]
    public void Bind_Enum_MatchesSnakeCaseIgnoringCaseAndUnderscores(string text, SharedStrategy expected)
    {
        Assert.Equal(expected, BindOne("broker.shared_subscription_strategy", text).SharedStrategy);
    }

    [Fact]
    public void Bind_Numbers_ParseIntoTheirTypes()
    {
        var options = Bind(
            "mqtt.max_clientid_len = 1024",
            "mqtt.max_topic_levels = 4294967295",
            "listener.tcp.external.backlog_port = 65535",
            "mqtt.upgrade_qos_ratio = 0.5",
            "listener.tcp.external.max_connections = -1",
            "listener.tcp.external.recbuf = 8KB");

        Assert.Equal(1024, options.MaxClientIdLength);
        Assert.Equal(uint.MaxValue, options.MaxTopicLevels);
        Assert.Equal(ushort.MaxValue, options.BacklogPort);
        Assert.Equal(0.5, options.UpgradeRatio);
        Assert.Equal(-1, options.MaxConnections);
        Assert.Equal(8 * 1024, options.ReceiveBuffer);
    }

    [Fact]
    public void Bind_Strings_TakeQuotedAndUnquotedValues()
    {
        var options = Bind("listener.tcp.external = 127.0.0.1:1883", "mqtt.mountpoint = \"tenant/ a/\"");

        Assert.Equal("127.0.0.1:1883", options.External);
        Assert.Equal("tenant/ a/", options.Mountpoint);
    }

    [Fact]
    public void Bind_Nullables_SetOrEmpty()
    {
        var set = Bind("mqtt.session_expiry = 2h", "mqtt.max_inflight = 32", "broker.fallback_strategy = sticky");
        var empty = Bind("mqtt.session_expiry =", "mqtt.max_inflight = \"\"", "broker.fallback_strategy =");

        Assert.Equal(TimeSpan.FromHours(2), set.SessionExpiry);
        Assert.Equal(32, set.MaxInflight);
        Assert.Equal(SharedStrategy.Sticky, set.FallbackStrategy);
        Assert.Null(empty.SessionExpiry);
        Assert.Null(empty.MaxInflight);
        Assert.Null(empty.FallbackStrategy);
    }

    [Fact]
    public void Bind_BadSize_MessageNamesFileLineKeyAndValue()
    {
        var path = _temp.Write("# comment", "", "mqtt.max_packet_size = \"abc\"");

        var error = Assert.Throws<ConfigurationException>(() => ConfBinder.Bind<SampleOptions>(TempConf.Build(path)));

        Assert.Equal($"{path}:3: mqtt.max_packet_size = \"abc\": expected a size such as 64KB or 1MB", error.Message);
        Assert.Equal(path, error.File);
        Assert.Equal(3, error.Line);
        Assert.Equal("mqtt.max_packet_size", error.Key);
        Assert.Null(error.EnvironmentVariable);
    }

    [Theory]
    [InlineData("mqtt.max_packet_size", "12 KiB", "expected a size such as 64KB or 1MB")]
    [InlineData("mqtt.max_packet_size", "-1KB", "expected a size such as 64KB or 1MB")]
    [InlineData("listener.tcp.external.recbuf", "4GB", "too large, at most 2147483647")]
    [InlineData("mqtt.max_packet_size", "99999999999GB", "too large, at most 9223372036854775807")]
    [InlineData("mqtt.keepalive", "abc", "expected a duration such as 500ms, 15s, 2m, 1h or 1d")]
    [InlineData("mqtt.keepalive", "15 sec", "expected a duration such as 500ms, 15s, 2m, 1h or 1d")]
    [InlineData("mqtt.keepalive", "", "expected a duration such as 500ms, 15s, 2m, 1h or 1d")]
    [InlineData("mqtt.retain_available", "yes", "expected true, false, on, off, 1 or 0")]
    [InlineData("mqtt.max_clientid_len", "12x", "expected a whole number")]
    [InlineData("listener.tcp.external.max_connections", "99999999999", "expected a whole number from -2147483648 to 2147483647")]
    [InlineData("listener.tcp.external.backlog_port", "70000", "expected a whole number from 0 to 65535")]
    [InlineData("mqtt.max_topic_levels", "-1", "expected a whole number from 0 to 4294967295")]
    [InlineData("mqtt.upgrade_qos_ratio", "most", "expected a number such as 10 or 0.75")]
    [InlineData("broker.shared_subscription_strategy", "fastest", "expected one of random, round_robin, sticky, hash_client_id, hash_topic")]
    [InlineData("broker.shared_subscription_strategy", "1", "expected one of random, round_robin, sticky, hash_client_id, hash_topic")]
    public void Bind_BadValue_MessageSaysWhatWasExpected(string key, string value, string expected)
    {
        var path = _temp.Write($"{key} = {value}");

        var error = Assert.Throws<ConfigurationException>(() => ConfBinder.Bind<SampleOptions>(TempConf.Build(path)));

        Assert.Equal($"{path}:1: {key} = \"{value}\": {expected}", error.Message);
        Assert.Equal(key, error.Key);
    }

    [Theory]
    [InlineData("mqtt.max_packet_size", "512", "must be at least 1KB")]
    [InlineData("mqtt.max_packet_size", "257MB", "must be at most 256MB")]
    [InlineData("mqtt.keepalive", "500ms", "must be at least 1s")]
    [InlineData("mqtt.keepalive", "2d", "must be at most 1d")]
    [InlineData("mqtt.max_clientid_len", "22", "must be at least 23")]
    [InlineData("mqtt.upgrade_qos_ratio", "1.01", "must be at most 1")]
    public void Bind_OutsideMinMax_ErrorNamesBound(string key, string value, string expected)
    {
        var path = _temp.Write($"{key} = {value}");

        var error = Assert.Throws<ConfigurationException>(() => ConfBinder.Bind<SampleOptions>(TempConf.Build(path)));

        Assert.Equal($"{path}:1: {key} = \"{value}\": {expected}", error.Message);
    }

    [Fact]
    public void Bind_OnMinAndMax_Accepted()
    {
        var low = Bind("mqtt.max_packet_size = 1KB", "mqtt.keepalive = 1s", "mqtt.upgrade_qos_ratio = 0");
        var high = Bind("mqtt.max_packet_size = 256MB", "mqtt.keepalive = 24h", "mqtt.upgrade_qos_ratio = 1");

        Assert.Equal(1024, low.MaxPacketSize);
        Assert.Equal(TimeSpan.FromSeconds(1), low.KeepAlive);
        Assert.Equal(256L << 20, high.MaxPacketSize);
        Assert.Equal(TimeSpan.FromDays(1), high.KeepAlive);
    }

    [Fact]
    public void Bind_SeveralBadValues_ReportsAllOneLineEach()
    {
        var path = _temp.Write("mqtt.max_packet_size = abc", "mqtt.keepalive = 15s", "mqtt.retain_available = maybe", "mqtt.max_clientid_len = 1");

        var error = Assert.Throws<ConfigurationException>(() => ConfBinder.Bind<SampleOptions>(TempConf.Build(path)));

        var lines = error.Message.Split(Environment.NewLine);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith($"{path}:1: mqtt.max_packet_size", lines[0], StringComparison.Ordinal);
        Assert.StartsWith($"{path}:3: mqtt.retain_available", lines[1], StringComparison.Ordinal);
        Assert.StartsWith($"{path}:4: mqtt.max_clientid_len", lines[2], StringComparison.Ordinal);
        Assert.Equal(3, error.Errors.Count);
    }

    [Fact]
    public void Bind_EnvironmentSetsKey_EnvironmentWinsOverFile()
    {
        var path = _temp.Write("mqtt.max_packet_size = 1MB", "listener.tcp.external = 0.0.0.0:1883");

        var options = ConfBinder.Bind<SampleOptions>(TempConf.Build(path, new Dictionary<string, string>
        {
            ["BROKER_MQTT__MAX_PACKET_SIZE"] = "2MB",
            ["BROKER_LISTENER__TCP__EXTERNAL"] = "0.0.0.0:1884",
        }));

        Assert.Equal(2L << 20, options.MaxPacketSize);
        Assert.Equal("0.0.0.0:1884", options.External);
    }

    [Fact]
    public void Bind_BadEnvironmentValue_ErrorNamesVariable()
    {
        var path = _temp.Write("mqtt.max_packet_size = 1MB");

        var error = Assert.Throws<ConfigurationException>(() => ConfBinder.Bind<SampleOptions>(TempConf.Build(path, new Dictionary<string, string>
        {
            ["BROKER_MQTT__MAX_PACKET_SIZE"] = "abc",
        })));

        Assert.Equal(
            "environment variable BROKER_MQTT__MAX_PACKET_SIZE: mqtt.max_packet_size = \"abc\": expected a size such as 64KB or 1MB",
            error.Message);
        Assert.Equal("BROKER_MQTT__MAX_PACKET_SIZE", error.EnvironmentVariable);
        Assert.Null(error.File);
        Assert.Null(error.Line);
        Assert.Equal("mqtt.max_packet_size", error.Key);
    }

    [Fact]
    public void Bind_BadFileValueOverriddenByEnvironment_IsNotAnError()
    {
        var path = _temp.Write("mqtt.max_packet_size = abc");

        var options = ConfBinder.Bind<SampleOptions>(TempConf.Build(path, new Dictionary<string, string>
        {
            ["BROKER_MQTT__MAX_PACKET_SIZE"] = "64KB",
        }));

        Assert.Equal(64 * 1024, options.MaxPacketSize);
    }

    [Fact]
    public void Bind_ValueFromSourceWithoutOrigins_NamesTheSource()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["mqtt:keepalive"] = "soon" })
            .Build();

        var error = Assert.Throws<ConfigurationException>(() => ConfBinder.Bind<SampleOptions>(configuration));

        Assert.EndsWith("mqtt.keepalive = \"soon\": expected a duration such as 500ms, 15s, 2m, 1h or 1d", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("(default)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bind_ValidatableRuleBroken_ErrorNamesLineOfKey()
    {
        var path = _temp.Write("limits.hard = 50", "limits.soft = 60");

        var error = Assert.Throws<ConfigurationException>(() => ConfBinder.Bind<LimitsOptions>(TempConf.Build(path)));

        Assert.Equal($"{path}:2: limits.soft = \"60\": must not exceed limits.hard (50)", error.Message);
    }

    [Fact]
    public void Bind_ValidatableRuleBrokenByDefault_ErrorShowsDefault()
    {
        var path = _temp.Write("limits.hard = 5");

        var error = Assert.Throws<ConfigurationException>(() => ConfBinder.Bind<LimitsOptions>(TempConf.Build(path)));

        Assert.Equal("limits.soft = \"10\" (default): must not exceed limits.hard (5)", error.Message);
        Assert.Null(error.File);
        Assert.Equal("limits.soft", error.Key);
    }

    [Fact]
    public void Bind_ValidatableRuleBrokenByEnvironment_ErrorNamesVariable()
    {
        var path = _temp.Write("limits.hard = 50");

        var error = Assert.Throws<ConfigurationException>(() => ConfBinder.Bind<LimitsOptions>(TempConf.Build(path, new Dictionary<string, string>
        {
            ["BROKER_LIMITS__SOFT"] = "70",
        })));

        Assert.Equal("environment variable BROKER_LIMITS__SOFT: limits.soft = \"70\": must not exceed limits.hard (50)", error.Message);
    }

    [Fact]
    public void Bind_ParseErrors_SkipValidatableRules()
    {
        var path = _temp.Write("limits.hard = many", "limits.soft = 60");

        var error = Assert.Throws<ConfigurationException>(() => ConfBinder.Bind<LimitsOptions>(TempConf.Build(path)));

        Assert.Equal("limits.hard", Assert.Single(error.Errors).Key);
    }

    [Fact]
    public void TryBind_SeveralOptionsAndUnknownKeys_CollectIntoOneException()
    {
        var path = _temp.Write("limits.soft = x", "mqtt.keepalive = never", "mqtt.kepalive = 5s");
        var configuration = TempConf.Build(path);

        var errors = new List<ConfigurationError>();
        errors.AddRange(ConfBinder.CheckUnknownKeys(configuration, ConfBinder.KnownKeys(typeof(SampleOptions), typeof(LimitsOptions))));
        errors.AddRange(ConfBinder.TryBind(configuration, new SampleOptions()));
        errors.AddRange(ConfBinder.TryBind(configuration, new LimitsOptions()));
        var error = Assert.Throws<ConfigurationException>(() => ConfigurationException.ThrowIfAny(errors));

        Assert.Equal(3, error.Errors.Count);
        Assert.Equal(3, error.Line);
    }

    [Fact]
    public void ThrowIfAny_NoErrors_DoesNotThrow()
    {
        ConfigurationException.ThrowIfAny([]);
    }

    [Fact]
    public void Bind_UnitThatDoesNotFitType_ThrowsInvalidOperation()
    {
        var error = Assert.Throws<InvalidOperationException>(() => ConfBinder.Bind<BytesOnStringOptions>(new ConfigurationBuilder().Build()));

        Assert.Contains("bad.unit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bind_BoundThatDoesNotParse_ThrowsInvalidOperation()
    {
        var error = Assert.Throws<InvalidOperationException>(() => ConfBinder.Bind<BadBoundOptions>(new ConfigurationBuilder().Build()));

        Assert.Contains("\"lots\"", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bind_KeyBoundTwice_ThrowsInvalidOperation()
    {
        var error = Assert.Throws<InvalidOperationException>(() => ConfBinder.Bind<DuplicateKeyOptions>(new ConfigurationBuilder().Build()));

        Assert.Contains("dup.key", error.Message, StringComparison.Ordinal);
    }

    private SampleOptions BindOne(string key, string value) => Bind($"{key} = {value}");

    private SampleOptions Bind(params string[] lines) => ConfBinder.Bind<SampleOptions>(TempConf.Build(_temp.Write(lines)));
}
