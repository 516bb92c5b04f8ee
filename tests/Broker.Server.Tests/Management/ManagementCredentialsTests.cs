using System.Text;
using Broker.Server.Management;
using Xunit;

namespace Broker.Server.Tests.Management;

public sealed class ManagementCredentialsTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("mgmt-cred-").FullName;

    public void Dispose() => Directory.Delete(_data, recursive: true);

    private static string Basic(string user, string secret) =>
        "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + secret));

    [Fact]
    public void Resolve_NoSecretConfigured_GeneratesOwnerOnlyFileAndReusesIt()
    {
        var first = ManagementCredentials.Resolve(new ManagementOptions(), _data);
        var path = Path.Combine(_data, ManagementCredentials.SecretFileName);
        Assert.True(first.Generated);
        Assert.Equal(path, first.SecretFile);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var secret = File.ReadAllText(path).Trim();
        Assert.True(secret.Length >= 40, secret);
        Assert.True(first.IsAuthorized(Basic("admin", secret)));

        var second = ManagementCredentials.Resolve(new ManagementOptions(), _data);
        Assert.False(second.Generated);
        Assert.True(second.IsAuthorized(Basic("admin", secret)));
    }

    [Fact]
    public void Resolve_TwoHomes_GenerateDifferentSecrets()
    {
        var other = Directory.CreateTempSubdirectory("mgmt-cred-").FullName;
        try
        {
            ManagementCredentials.Resolve(new ManagementOptions(), _data);
            ManagementCredentials.Resolve(new ManagementOptions(), other);
            Assert.NotEqual(
                File.ReadAllText(Path.Combine(_data, ManagementCredentials.SecretFileName)),
                File.ReadAllText(Path.Combine(other, ManagementCredentials.SecretFileName)));
        }
        finally
        {
            Directory.Delete(other, recursive: true);
        }
    }

    [Fact]
    public void Resolve_ConfiguredSecret_WritesNoFile()
    {
        var credentials = ManagementCredentials.Resolve(new ManagementOptions { ApplicationId = "ops", ApplicationSecret = "s3cret-enough" }, _data);
        Assert.Null(credentials.SecretFile);
        Assert.False(File.Exists(Path.Combine(_data, ManagementCredentials.SecretFileName)));
        Assert.True(credentials.IsAuthorized(Basic("ops", "s3cret-enough")));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Bearer abc")]
    [InlineData("Basic !!!not-base64")]
    public void IsAuthorized_MalformedHeader_IsRefused(string? header)
    {
        var credentials = new ManagementCredentials("admin", "s3cret-enough", null);
        Assert.False(credentials.IsAuthorized(header));
    }

    [Theory]
    [InlineData("admin", "s3cret-enougH")]
    [InlineData("admin", "s3cret-enough ")]
    [InlineData("admin", "")]
    [InlineData("Admin", "s3cret-enough")]
    [InlineData("admin:s3cret-enough", "")]
    public void IsAuthorized_WrongCredentials_AreRefused(string user, string secret)
    {
        var credentials = new ManagementCredentials("admin", "s3cret-enough", null);
        Assert.False(credentials.IsAuthorized(Basic(user, secret)));
        Assert.True(credentials.IsAuthorized(Basic("admin", "s3cret-enough")));
    }

    // The plugins' credential (IPluginContext.CreateManagementClient): accepted, made anew for every process.
    [Fact]
    public void InternalAuthorization_IsAccepted_AndDiffersPerInstance()
    {
        var credentials = new ManagementCredentials("admin", "s3cret-enough", null);
        Assert.True(credentials.IsAuthorized(credentials.InternalAuthorization));
        var other = new ManagementCredentials("admin", "s3cret-enough", null);
        Assert.NotEqual(credentials.InternalAuthorization, other.InternalAuthorization);
        Assert.False(credentials.IsAuthorized(other.InternalAuthorization));
    }

    [Theory]
    [InlineData("management.listener", "localhost:8081")]
    [InlineData("management.default_application.id", "")]
    [InlineData("management.default_application.secret", "short")]
    public void Validate_BadValue_NamesTheKey(string key, string value)
    {
        var options = new ManagementOptions();
        switch (key)
        {
            case "management.listener": options.Bind = value; break;
            case "management.default_application.id": options.ApplicationId = value; break;
            default: options.ApplicationSecret = value; break;
        }
        Assert.Contains(options.Validate(), e => e.Key == key);
    }
}
