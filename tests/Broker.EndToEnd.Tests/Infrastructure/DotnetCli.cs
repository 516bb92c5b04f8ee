namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>Runs the .NET SDK's <c>dotnet</c> as a user would (no telemetry, English messages) and fails the test on a non-zero exit.</summary>
internal static class DotnetCli
{
    /// <returns>The command's output, also written to the test's output.</returns>
    public static async Task<string> RunAsync(string workingDirectory, string failure, TimeSpan timeout, params string[] arguments)
    {
        var environment = new Dictionary<string, string>
        {
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
            ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
            ["DOTNET_CLI_UI_LANGUAGE"] = "en",
        };
        await using var process = ChildProcess.Start(Tools.Require("dotnet", "dotnet-sdk-10.0"), arguments, environment, workingDirectory);
        var code = await process.WaitForExitAsync(timeout);
        TestContext.Current.TestOutputHelper?.WriteLine(process.Transcript);
        Assert.True(code == 0, $"{failure} (exit code {code})\n{process.Transcript}");
        return process.Transcript;
    }
}
