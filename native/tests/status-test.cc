#include "sluice/status.h"

#include <fstream>
#include <regex>
#include <sstream>

#include "test-harness.h"

using sluice::Status;
using sluice::StatusCode;

TEST(DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::OK);
  EXPECT_EQ(s.ToString(), std::string("OK"));
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(CarriesCodeAndMessage) {
  Status s = sluice::NotFound("model 'm' has no version 3");
  EXPECT_TRUE(!s.ok());
  EXPECT_EQ(s.code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(s.message(), std::string("model 'm' has no version 3"));
  EXPECT_EQ(s.ToString(), std::string("NOT_FOUND: model 'm' has no version 3"));
  EXPECT_EQ(sluice::InvalidArgument("x").code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(sluice::Unavailable("x").code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(sluice::Internal("x").code(), StatusCode::INTERNAL);
}

TEST(CodeNamesAndNumbers) {
  EXPECT_EQ(static_cast<int>(StatusCode::UNAUTHENTICATED), 16);
  EXPECT_EQ(std::string(sluice::StatusCodeName(StatusCode::DEADLINE_EXCEEDED)),
            std::string("DEADLINE_EXCEEDED"));
  EXPECT_EQ(std::string(sluice::StatusCodeName(static_cast<StatusCode>(99))),
            std::string("UNKNOWN_CODE"));
}

namespace {

int g_evaluations = 0;

Status Step(Status result) {
  ++g_evaluations;
  return result;
}

Status TwoSteps(Status first, Status second, bool* reached_end) {
  RETURN_IF_ERROR(Step(std::move(first)));
  RETURN_IF_ERROR(Step(std::move(second)));
  *reached_end = true;
  return Status::Ok();
}

}  // namespace

TEST(ReturnIfErrorStopsAtFirstError) {
  bool reached_end = false;
  g_evaluations = 0;
  Status s = TwoSteps(sluice::Internal("first"), sluice::NotFound("second"), &reached_end);
  EXPECT_EQ(s.code(), StatusCode::INTERNAL);
  EXPECT_EQ(s.message(), std::string("first"));
  EXPECT_EQ(g_evaluations, 1);  // evaluated once, and the second step never ran
  EXPECT_TRUE(!reached_end);
}

TEST(ReturnIfErrorPassesOk) {
  bool reached_end = false;
  g_evaluations = 0;
  Status s = TwoSteps(Status::Ok(), Status::Ok(), &reached_end);
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(g_evaluations, 2);
  EXPECT_TRUE(reached_end);
}

// The TS side (src/runtime/status.ts STATUS_TABLE) and this enum must agree on every number.
TEST(CodesMatchStatusTs) {
  std::ifstream in(SLUICE_SOURCE_DIR "/src/runtime/status.ts");
  ASSERT_TRUE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  const std::string ts = text.str();
  // Rows look like `  NOT_FOUND: [5, 404],`.
  const std::regex row(R"(\n\s*([A-Z_]+):\s*\[(\d+),)");
  int rows = 0;
  for (auto it = std::sregex_iterator(ts.begin(), ts.end(), row); it != std::sregex_iterator();
       ++it) {
    const std::string name = (*it)[1];
    const int number = std::stoi((*it)[2]);
    EXPECT_EQ(std::string(sluice::StatusCodeName(static_cast<StatusCode>(number))), name);
    ++rows;
  }
  EXPECT_EQ(rows, 16);  // every code except OK, which TS does not list
}

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
