using Broker.Configuration;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace Broker.Server.Tests.Configuration;

public sealed class ConfFileTests : IDisposable
{
    private readonly TempConf _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Parse_CommentsAndBlankLines_AreSkippedAndLinesCounted()
    {
        var path = _temp.Write(
            "# a comment",
            "",
            "   # an indented comment",
            "mqtt.max_packet_size = 1MB",
            "   ",
            "listener.tcp.external = 0.0.0.0:1883");

        var file = ConfFile.Parse(path);

        Assert.Equal(
            [new ConfEntry("mqtt.max_packet_size", "1MB", 4), new ConfEntry("listener.tcp.external", "0.0.0.0:1883", 6)],
            file.Entries);
        Assert.Equal(path, file.Path);
    }

    [Theory]
    [InlineData("a.b = \"quoted value\"", "quoted value")]
    [InlineData("a.b = \"  padded  \"", "  padded  ")]
    [InlineData("a.b = \"\"", "")]
    [InlineData("a.b = \"\"inner\"\"", "\"inner\"")]
    [InlineData("a.b = half\"quoted\"", "half\"quoted\"")]
    [InlineData("a.b = password=se=cret==", "password=se=cret==")]
    [InlineData("a.b = \"x = y\"", "x = y")]
    [InlineData("a.b = value # not a comment", "value # not a comment")]
    [InlineData("a.b =", "")]
    [InlineData("a.b=tight", "tight")]
    [InlineData("\t a.b \t=\t spaced out \t", "spaced out")]
    [InlineData("a.b = crlf\r", "crlf")]
    public void Parse_Value_IsTrimmedAndUnquoted(string line, string expected)
    {
        var file = ConfFile.Parse(_temp.Write(line));

        var entry = Assert.Single(file.Entries);
        Assert.Equal("a.b", entry.Key);
        Assert.Equal(expected, entry.Value);
    }

    [Fact]
    public void Parse_LineWithoutEquals_ErrorNamesFileAndLine()
    {
        var path = _temp.Write("# fine", "mqtt.max_packet_size 1MB");

        var error = Assert.Throws<ConfigurationException>(() => ConfFile.Parse(path));

        Assert.Equal($"{path}:2: expected key = value, found \"mqtt.max_packet_size 1MB\"", error.Message);
        Assert.Equal(path, error.File);
        Assert.Equal(2, error.Line);
    }

    [Theory]
    [InlineData("mqtt..max = 1")]
    [InlineData(".mqtt = 1")]
    [InlineData("mqtt. = 1")]
    [InlineData("mqtt max = 1")]
    [InlineData("mqtt:max = 1")]
    [InlineData("= 1")]
    [InlineData("mqtt.max$ = 1")]
    public void Parse_InvalidKey_ErrorNamesFileAndLine(string line)
    {
        var path = _temp.Write("", line);

        var error = Assert.Throws<ConfigurationException>(() => ConfFile.Parse(path));

        Assert.StartsWith($"{path}:2: invalid key ", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, error.Line);
    }

    [Fact]
    public void Parse_UnterminatedQuote_ErrorNamesKey()
    {
        var path = _temp.Write("mqtt.mountpoint = \"devices/");

        var error = Assert.Throws<ConfigurationException>(() => ConfFile.Parse(path));

        Assert.Equal($"{path}:1: mqtt.mountpoint: the value \"devices/ has no closing quote", error.Message);
        Assert.Equal("mqtt.mountpoint", error.Key);
    }

    [Fact]
    public void Parse_DuplicateKey_ErrorNamesBothLines()
    {
        var path = _temp.Write("a.b = 1", "a.c = 2", "A.B = 3");

        var error = Assert.Throws<ConfigurationException>(() => ConfFile.Parse(path));

        Assert.Equal($"{path}:3: A.B: set twice; first set at line 1", error.Message);
    }

    [Fact]
    public void Parse_SeveralBadLines_ReportsAllOneLineEach()
    {
        var path = _temp.Write("no equals", "ok.key = 1", "bad key = 2", "also bad");

        var error = Assert.Throws<ConfigurationException>(() => ConfFile.Parse(path));

        Assert.Equal([1, 3, 4], error.Errors.Select(e => e.Origin!.Line));
        Assert.Equal(3, error.Message.Split(Environment.NewLine).Length);
    }

    [Fact]
    public void Parse_MissingFile_ErrorNamesFile()
    {
        var path = _temp.PathOf("absent.conf");

        var error = Assert.Throws<ConfigurationException>(() => ConfFile.Parse(path));

        Assert.StartsWith($"{path}: cannot read the file", error.Message, StringComparison.Ordinal);
        Assert.Null(error.Line);
    }

    [Fact]
    public void AddConfFile_MissingRequiredFile_ThrowsNamingFile()
    {
        var path = _temp.PathOf("absent.conf");

        var error = Assert.Throws<ConfigurationException>(() => new ConfigurationBuilder().AddConfFile(path).Build());

        Assert.Equal($"{path}: file not found", error.Message);
    }

    [Fact]
    public void AddConfFile_MissingOptionalFile_IsEmpty()
    {
        var configuration = new ConfigurationBuilder().AddConfFile(_temp.PathOf("absent.conf"), optional: true).Build();

        Assert.Empty(configuration.AsEnumerable());
    }

    [Fact]
    public void AddConfFile_SyntaxError_ThrowsWhenBuilt()
    {
        var path = _temp.Write("broken");

        var error = Assert.Throws<ConfigurationException>(() => TempConf.Build(path));

        Assert.Equal(1, error.Line);
    }

    [Fact]
    public void AddConfFile_DottedKey_MapsToConfigurationPath()
    {
        var configuration = TempConf.Build(_temp.Write("mqtt.max_packet_size = 1MB"));

        Assert.Equal("1MB", configuration["mqtt:max_packet_size"]);
        Assert.Equal("1MB", configuration.GetSection("mqtt")["max_packet_size"]);
    }

    [Fact]
    public void AddConfFile_KeyIsValueAndParent_BothReadable()
    {
        var configuration = TempConf.Build(_temp.Write(
            "listener.tcp.external = 0.0.0.0:1883",
            "listener.tcp.external.max_connections = 1000"));

        var external = configuration.GetSection("listener:tcp:external");
        Assert.Equal("0.0.0.0:1883", external.Value);
        Assert.Equal("1000", external["max_connections"]);
        Assert.Equal(["max_connections"], external.GetChildren().Select(c => c.Key));
    }
}
