from engine.rca import knowledge


def test_classify_common_failure_modes():
    assert knowledge.classify("No valid host was found. There are not enough hosts").category == "no valid host"
    assert knowledge.classify("VirtualInterfaceCreateException: vif plugging timed out").category == "vif plugging"
    assert knowledge.classify("Failed to attach volume: iscsiadm error").category == "volume attach"
    assert knowledge.classify("ImageCopyFailure: qemu-img convert failed").category == "image"
    assert knowledge.classify("MessagingTimeout: Timed out waiting for a reply").category == "timeout"
    assert knowledge.classify("DBConnectionError: (OperationalError)").category == "database"
    assert knowledge.classify("Unauthorized: The request you have made requires authentication").category == "auth"
    assert knowledge.classify("something odd") is knowledge.DEFAULT


def test_recommendation_mentions_code_bug_and_issue_parsing():
    mode = knowledge.classify("volume create failed")
    assert "programming error (TypeError)" in knowledge.recommendation(mode, "TypeError: f() takes 2 args")
    assert knowledge.issue_categories("Volume attach failed") >= {"volume attach"}
    assert "attach" in knowledge.issue_words("Attaching the volume failed")
